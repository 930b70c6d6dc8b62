"""evaluation/ground_truth.py: COCO ground truth from OD-API TFRecords (original pixels, crowd, area, ids)."""

import io
import json

import numpy as np
import pytest

from keras_centernet.evaluation.coco import ImageIdResolver, evaluate_detections
from keras_centernet.evaluation.ground_truth import (
    categories_from_label_map,
    ground_truth_from_json,
    ground_truth_from_tfrecords,
)


def _example(source_id, height, width, boxes, labels, is_crowd=None, area=None, file_name=None):
    """A tf.Example in the TF Object Detection API schema; boxes xyxy in pixels."""
    import tensorflow as tf
    from PIL import Image

    def floats(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(v)))

    def ints(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(v)))

    def strings(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(v)))

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buffer, format="JPEG")
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    feature = {
        "image/encoded": strings([buffer.getvalue()]),
        "image/format": strings([b"jpeg"]),
        "image/height": ints([height]),
        "image/width": ints([width]),
        "image/source_id": strings([source_id.encode()]),
        "image/filename": strings([(file_name or source_id + ".jpg").encode()]),
        "image/object/bbox/xmin": floats(boxes[:, 0] / width),
        "image/object/bbox/ymin": floats(boxes[:, 1] / height),
        "image/object/bbox/xmax": floats(boxes[:, 2] / width),
        "image/object/bbox/ymax": floats(boxes[:, 3] / height),
        "image/object/class/label": ints(labels),
        "image/object/is_crowd": ints(is_crowd if is_crowd is not None else [0] * len(labels)),
    }
    if area is not None:
        feature["image/object/area"] = floats(area)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write(path, examples):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            writer.write(example)


@pytest.mark.tensorflow
def test_ground_truth_from_tfrecords_original_pixels_and_ids(tmp_path):
    _write(
        tmp_path / "val.record-00000-of-00002",
        [
            _example(
                "139", 480, 640, [[100, 50, 300, 250], [0, 0, 64, 48]], [13, 90], [0, 1], [900.0, 1000.0]
            ),
            _example("285", 640, 586, [[10, 20, 30, 60]], [1]),
        ],
    )
    _write(tmp_path / "val.record-00001-of-00002", [_example("632", 100, 100, [], [])])
    gt = ground_truth_from_tfrecords(
        str(tmp_path / "val.record-*"), label_map={1: "person", 13: "stop sign", 90: "toothbrush"}
    )
    assert [img["id"] for img in gt["images"]] == [139, 285, 632]
    assert gt["images"][0]["height"] == 480 and gt["images"][0]["width"] == 640
    first, crowd, third = gt["annotations"]
    np.testing.assert_allclose(first["bbox"], [100, 50, 200, 200], atol=1e-3)
    assert (first["category_id"], first["iscrowd"], first["area"]) == (13, 0, 900.0)
    assert (crowd["category_id"], crowd["iscrowd"]) == (90, 1)
    np.testing.assert_allclose(third["bbox"], [10, 20, 20, 40], atol=1e-3)
    assert third["area"] == pytest.approx(800.0, rel=1e-4)  # no area in the record: box area
    assert [c["id"] for c in gt["categories"]] == [1, 13, 90]

    # Perfect detections (non-crowd ground truth as results) score AP 1.
    detections = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in gt["annotations"]
        if not a["iscrowd"]
    ]
    assert evaluate_detections(detections, gt)["AP"] == pytest.approx(1.0)


@pytest.mark.tensorflow
def test_non_numeric_source_ids_resolve_like_the_evaluation(tmp_path):
    _write(
        tmp_path / "v.record",
        [_example("2007_000027", 100, 80, [[1, 2, 30, 40]], [2]), _example("img_b", 50, 50, [], [])],
    )
    gt = ground_truth_from_tfrecords(tmp_path / "v.record")
    resolver = ImageIdResolver(gt)
    assert [resolver(s) for s in (b"2007_000027", "img_b")] == [img["id"] for img in gt["images"]]
    assert len({img["id"] for img in gt["images"]}) == 2
    assert gt["categories"] == [{"id": 2, "name": "2"}]


@pytest.mark.tensorflow
def test_errors_name_the_file_or_record(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord files"):
        ground_truth_from_tfrecords(str(tmp_path / "missing-*"))
    _write(tmp_path / "bad.record", [b"not a tf.Example"])
    with pytest.raises(ValueError, match="bad.record: record 0"):
        ground_truth_from_tfrecords(tmp_path / "bad.record")
    _write(tmp_path / "ok.record", [_example("1", 10, 10, [[1, 1, 5, 5]], [7])])
    with pytest.raises(ValueError, match=r"category ids \[7\]"):
        ground_truth_from_tfrecords(tmp_path / "ok.record", label_map={1: "a"})


def test_json_and_label_map_forms(tmp_path):
    path = tmp_path / "instances.json"
    gt = {
        "images": [{"id": 1, "height": 10, "width": 10}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 4, 4]}],
        "categories": [{"id": 5, "name": "cat"}],
    }
    path.write_text(json.dumps(gt))
    loaded = ground_truth_from_json(path)
    assert loaded["annotations"][0]["area"] == 16.0 and loaded["annotations"][0]["iscrowd"] == 0
    with pytest.raises(FileNotFoundError, match="nope.json"):
        ground_truth_from_json(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json"):
        ground_truth_from_json(tmp_path / "broken.json")
    expected = [{"id": 1, "name": "a"}, {"id": 3, "name": "b"}]
    assert categories_from_label_map({3: "b", 1: "a"}) == expected
    assert categories_from_label_map([{"id": 3, "name": "x", "display_name": "b"}, (1, "a")]) == expected
