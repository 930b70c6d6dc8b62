"""Fixtures for the distributed tests: a tiny synthetic TFRecord dataset folder (OD API layout, 2 shards)."""

import io

import numpy as np
import pytest
from PIL import Image

from keras_centernet.data import make_synthetic_dataset, write_label_map
from keras_centernet.data.layout import label_map_path, shard_path

CATEGORIES = {1: "rectangle", 2: "ellipse", 3: "triangle"}


def write_tiny_records(data_dir, num_images=16, image_size=64, num_shards=2, seed=0):
    """Synthetic shapes as PNG tf.Examples in ``data_dir/tfrecords/coco_train.record-*`` + label map."""
    import os

    import tensorflow as tf

    from keras_centernet.data.tfrecord import encode_example

    images, boxes, labels = make_synthetic_dataset(num_images, image_size=image_size, seed=seed)
    write_label_map(label_map_path(str(data_dir)), CATEGORIES)
    os.makedirs(os.path.dirname(shard_path(str(data_dir), "train", 0, num_shards)), exist_ok=True)
    writers = [tf.io.TFRecordWriter(shard_path(str(data_dir), "train", i, num_shards)) for i in range(num_shards)]
    for index in range(num_images):
        valid = labels[index] >= 0
        buffer = io.BytesIO()
        Image.fromarray(images[index]).save(buffer, format="PNG")
        example = encode_example(
            buffer.getvalue(),
            image_format="png",
            height=image_size,
            width=image_size,
            source_id=index,
            boxes=np.clip(boxes[index][valid] / image_size, 0.0, 1.0),
            labels=labels[index][valid] + 1,
        )
        writers[index % num_shards].write(example)
    for writer in writers:
        writer.close()
    return str(data_dir)


@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory):
    """16 synthetic 64x64 images in two training shards; returns the dataset folder."""
    pytest.importorskip("tensorflow")
    return write_tiny_records(tmp_path_factory.mktemp("tiny_records"))
