"""Fixtures for the distributed tests: a tiny synthetic TFRecord dataset folder (OD API layout, 2 shards)."""

import pytest

from keras_centernet.data.synthetic import make_synthetic_dataset, write_synthetic_split


def write_tiny_records(data_dir, num_images=16, image_size=64, num_shards=2, seed=0):
    """Synthetic shapes as ``data_dir/tfrecords/coco_train.record-*`` (ids 1..3) + label map, via the library."""
    images, boxes, labels = make_synthetic_dataset(num_images, image_size=image_size, seed=seed)
    write_synthetic_split(str(data_dir), "train", images, boxes, labels, num_shards=num_shards)
    return str(data_dir)


@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory):
    """16 synthetic 64x64 images in two training shards; returns the dataset folder."""
    pytest.importorskip("tensorflow")
    return write_tiny_records(tmp_path_factory.mktemp("tiny_records"))
