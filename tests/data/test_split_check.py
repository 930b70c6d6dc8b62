"""check_split: record counts without TensorFlow, and one-line errors for missing, empty and truncated splits."""

import os
import shutil

import numpy as np
import pytest

from keras_centernet.data import layout
from keras_centernet.data.split_check import check_split, masked_crc32c
from keras_centernet.validation import InputError


@pytest.fixture(scope="module")
def good_split(tmp_path_factory):
    """A converted dataset folder with 7 synthetic records in 3 shards (3, 2, 2 records)."""
    from keras_centernet.data.synthetic import make_synthetic_dataset, write_synthetic_split

    folder = str(tmp_path_factory.mktemp("split"))
    images, boxes, labels = make_synthetic_dataset(7, image_size=32, max_boxes=4, seed=3)
    write_synthetic_split(folder, "train", images, boxes, labels, num_shards=3)
    return folder


def _copy(folder, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(folder, copy)
    return copy


def test_crc32c_known_value():
    crc = 0xE3069283  # CRC-32C of b"123456789" (RFC 3720 check value)
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.tensorflow
def test_counts_the_records_of_a_good_split_like_tensorflow(good_split):
    import tensorflow as tf

    pattern = layout.record_file_pattern(good_split, "train")
    files = sorted(tf.io.gfile.glob(pattern))
    assert len(files) == 3
    assert check_split(pattern) == sum(1 for _ in tf.data.TFRecordDataset(files)) == 7
    assert check_split([files[0], files[2]]) == sum(1 for _ in tf.data.TFRecordDataset([files[0], files[2]])) == 5


def test_no_matching_shards_names_the_pattern_and_the_converters(tmp_path):
    pattern = layout.record_file_pattern(str(tmp_path), "train")
    with pytest.raises(InputError) as raised:
        check_split(pattern)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"--data_dir: no TFRecord shards match {pattern!r}")
    assert "convert-coco" in message and "convert-voc" in message


def test_a_split_of_empty_shards_has_zero_records(tmp_path):
    pattern = layout.record_file_pattern(str(tmp_path), "val")
    os.makedirs(os.path.dirname(pattern))
    open(layout.shard_path(str(tmp_path), "val", 0, 1), "wb").close()
    with pytest.raises(InputError, match=r"^--val_data: the 1 shard\(s\) matching .*coco_val\.record-\*' hold 0 "
                                         r"records[^\n]*$"):
        check_split(pattern, argument="--val_data")


@pytest.mark.parametrize("cut", [1, 4, 100, "header"])
def test_a_truncated_shard_is_named_with_the_record_and_offset(good_split, tmp_path, cut):
    folder = _copy(good_split, tmp_path)
    shard = layout.shard_path(folder, "train", 1, 3)
    with open(shard, "rb") as file:
        data = file.read()
    first_length = int(np.frombuffer(data[:8], "<u8")[0])
    second = first_length + 16  # the second record's byte offset
    keep = second + 5 if cut == "header" else len(data) - cut
    with open(shard, "wb") as file:
        file.write(data[:keep])
    with pytest.raises(InputError) as raised:
        check_split(layout.record_file_pattern(folder, "train"))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"--data_dir: shard {shard}: record 1 at byte {second}: truncated")


def test_a_file_that_is_no_tfrecord_fails_the_length_crc(tmp_path):
    pattern = layout.record_file_pattern(str(tmp_path), "train")
    os.makedirs(os.path.dirname(pattern))
    path = layout.shard_path(str(tmp_path), "train", 0, 1)
    with open(path, "wb") as file:
        file.write(b"<html>not found</html>" * 10)
    with pytest.raises(InputError, match=r"record 0 at byte 0: the length field fails its CRC"):
        check_split(pattern)


def test_split_check_runs_without_tensorflow(good_split):
    import subprocess
    import sys

    code = ("import sys; sys.modules['tensorflow'] = None  # any 'import tensorflow' fails\n"
            "from keras_centernet.data import layout, split_check\n"
            f"print(split_check.check_split(layout.record_file_pattern({good_split!r}, 'train')))")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "7", result.stderr
