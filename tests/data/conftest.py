"""Fixtures for the data tests: tiny generated COCO datasets (json + images) and TFRecord writers."""

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 7, "name": "bird"}]


def image_bytes(height, width, mode="RGB", image_format="JPEG", seed=0):
    """Encoded random image bytes of the given size, PIL mode and format."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **({"quality": 95} if image_format == "JPEG" else {}))
    return buffer.getvalue()


def write_coco(folder, images, annotations, categories=CATEGORIES, name="instances.json"):
    """Write ``images`` ({file_name: (bytes, width, height, id)}) and a COCO json; returns (json, image dir)."""
    image_dir = os.path.join(folder, "images")
    os.makedirs(image_dir, exist_ok=True)
    records = []
    for file_name, (data, width, height, image_id) in images.items():
        if data is not None:
            with open(os.path.join(image_dir, file_name), "wb") as file:
                file.write(data)
        records.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
    path = os.path.join(folder, name)
    with open(path, "w") as file:
        json.dump({"images": records, "annotations": annotations, "categories": categories}, file)
    return path, image_dir


def _annotation(annotation_id, image_id, category_id, bbox, iscrowd=0):
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": list(bbox),
        "iscrowd": iscrowd,
        "area": float(bbox[2] * bbox[3]),
    }


@pytest.fixture
def encode_image():
    """image_bytes(height, width, mode="RGB", image_format="JPEG", seed=0) -> encoded bytes."""
    return image_bytes


@pytest.fixture
def coco_writer():
    """write_coco(folder, images, annotations, categories=CATEGORIES) -> (json path, image folder)."""
    return write_coco


@pytest.fixture
def tiny_coco(tmp_path):
    """Three images: an RGB JPEG (64x48) with a normal box, a crowd box, a box partly outside and one fully
    outside (dropped); a grayscale PNG (50x40) with two boxes; a JPEG without boxes.

    Returns a dict: json, images, and "expected" {source_id: (width, height, normalized boxes [N, 4],
    labels [N], is_crowd [N])} after clipping.
    """
    images = {
        "rgb.jpg": (image_bytes(48, 64, seed=1), 64, 48, 11),
        "gray.png": (image_bytes(40, 50, mode="L", image_format="PNG", seed=2), 50, 40, 12),
        "empty.jpg": (image_bytes(32, 32, seed=3), 32, 32, 13),
    }
    annotations = [
        _annotation(1, 11, 1, (4.5, 6.25, 20.0, 10.5)),
        _annotation(2, 11, 3, (30.0, 10.0, 12.0, 20.0), iscrowd=1),
        _annotation(3, 11, 7, (50.0, 30.0, 30.0, 40.0)),  # clipped to (50, 30, 64, 48)
        _annotation(4, 11, 7, (70.0, 5.0, 10.0, 10.0)),  # outside: zero area after clipping, dropped
        _annotation(5, 12, 3, (0.0, 0.0, 50.0, 40.0)),
        _annotation(6, 12, 1, (10.0, 12.0, 5.5, 7.25)),
    ]
    json_path, image_dir = write_coco(str(tmp_path / "coco"), images, annotations)
    expected = {
        "11": (
            64, 48,
            np.array([[4.5 / 64, 6.25 / 48, 24.5 / 64, 16.75 / 48], [30 / 64, 10 / 48, 42 / 64, 30 / 48],
                      [50 / 64, 30 / 48, 1.0, 1.0]]),
            [1, 3, 7], [0, 1, 0],
        ),
        "12": (50, 40, np.array([[0.0, 0.0, 1.0, 1.0], [10 / 50, 12 / 40, 15.5 / 50, 19.25 / 40]]), [3, 1], [0, 0]),
        "13": (32, 32, np.zeros((0, 4)), [], []),
    }
    return {"json": json_path, "images": image_dir, "expected": expected, "root": str(tmp_path)}


@pytest.fixture
def record_writer(tmp_path):
    """write(name, examples) -> path: a TFRecord file of serialized examples under tmp_path/records/."""
    import tensorflow as tf

    folder = tmp_path / "records" / "tfrecords"
    folder.mkdir(parents=True)

    def write(name, examples):
        path = str(folder / name)
        with tf.io.TFRecordWriter(path) as writer:
            for example in examples:
                writer.write(example)
        return path

    return write


def _read_records(pattern):
    import tensorflow as tf

    from keras_centernet.data import tfrecord

    records = {}
    for path in sorted(tf.io.gfile.glob(pattern)):
        for serialized in tf.data.TFRecordDataset(path):
            parsed = {key: value.numpy() for key, value in tfrecord.parse_example(serialized).items()}
            example = tf.train.Example.FromString(serialized.numpy())
            parsed["texts"] = list(example.features.feature[tfrecord.TEXT].bytes_list.value)
            parsed["path"] = path
            records[parsed["source_id"].decode()] = parsed
    return records


@pytest.fixture
def read_records():
    """read_records(pattern) -> {source_id: parsed record as numpy (+ "texts", "path")}."""
    return _read_records
