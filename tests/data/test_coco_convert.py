"""COCO json + images -> TFRecords: round trip, clipping, crowd boxes, and bad input."""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow


def _convert(tiny_coco, output, **kwargs):
    from keras_centernet.data import convert_coco

    kwargs = {"split": "val", "num_shards": 2, "workers": 1, "progress": False, **kwargs}
    return convert_coco(tiny_coco["json"], tiny_coco["images"], output, **kwargs)


def test_convert_then_parse_gives_back_boxes_and_labels(tiny_coco, tmp_path, read_records):
    import tensorflow as tf

    from keras_centernet.data import read_label_map

    output = str(tmp_path / "out")
    summary = _convert(tiny_coco, output)
    assert (summary.images, summary.boxes, summary.crowd_boxes) == (3, 5, 1)
    assert (summary.clipped_boxes, summary.dropped_boxes, summary.images_without_boxes) == (1, 1, 1)
    assert summary.skipped_images == summary.skipped_annotations == 0
    assert sorted(os.listdir(os.path.join(output, "tfrecords"))) == [
        "coco_val.record-00000-of-00002", "coco_val.record-00001-of-00002"]
    assert read_label_map(os.path.join(output, "mscoco_label_map.pbtxt")) == {1: "cat", 3: "dog", 7: "bird"}

    records = read_records(os.path.join(output, "tfrecords", "coco_val.record-*"))
    assert sorted(records) == ["11", "12", "13"]
    names = {1: b"cat", 3: b"dog", 7: b"bird"}
    for source_id, (width, height, boxes, labels, crowd) in tiny_coco["expected"].items():
        record = records[source_id]
        assert (record["width"], record["height"]) == (width, height)
        np.testing.assert_allclose(record["boxes"], boxes.astype(np.float32), rtol=1e-6, atol=0)
        np.testing.assert_array_equal(record["labels"], labels)
        np.testing.assert_array_equal(record["is_crowd"], np.array(crowd, bool))
        assert record["texts"] == [names[label] for label in labels]
    # image i goes to shard i % 2; the grayscale PNG is stored as PNG and decodes to 3 equal channels
    assert records["11"]["path"].endswith("00000-of-00002") and records["12"]["path"].endswith("00001-of-00002")
    assert records["12"]["format"] == b"png" and records["11"]["format"] == b"jpeg"
    gray = tf.io.decode_image(records["12"]["encoded"], channels=3, expand_animations=False).numpy()
    assert gray.shape == (40, 50, 3)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    np.testing.assert_allclose(records["11"]["area"], [20.0 * 10.5, 12.0 * 20.0, 30.0 * 40.0])  # as in the json


def test_missing_image_stops_naming_it_unless_skip_invalid(tiny_coco, tmp_path, read_records):
    from keras_centernet.data import ConversionError

    os.remove(os.path.join(tiny_coco["images"], "gray.png"))
    output = str(tmp_path / "out")
    with pytest.raises(ConversionError, match=r"gray\.png: image file not found[\s\S]*--skip_invalid"):
        _convert(tiny_coco, output)
    assert not os.path.exists(output)  # stopped before writing anything
    summary = _convert(tiny_coco, output, skip_invalid=True)
    assert (summary.images, summary.skipped_images) == (2, 1)
    assert "gray.png: image file not found" in summary.format()
    assert sorted(read_records(os.path.join(output, "tfrecords", "*"))) == ["11", "13"]


def test_unknown_category_stops_unless_skip_invalid(tmp_path, encode_image, coco_writer, read_records):
    from keras_centernet.data import ConversionError

    images = {"a.jpg": (encode_image(20, 20), 20, 20, 1)}
    annotations = [
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0, "area": 25.0},
        {"id": 6, "image_id": 1, "category_id": 99, "bbox": [2, 2, 5, 5], "iscrowd": 0, "area": 25.0},
        {"id": 7, "image_id": 1, "category_id": 1, "bbox": [2, 2], "iscrowd": 0, "area": 25.0},
    ]
    json_path, image_dir = coco_writer(str(tmp_path / "c"), images, annotations)
    from keras_centernet.data import convert_coco

    with pytest.raises(ConversionError, match="annotation 6 of image a.jpg has unknown category id 99"):
        convert_coco(json_path, image_dir, str(tmp_path / "o"), split="val", num_shards=1, progress=False)
    summary = convert_coco(json_path, image_dir, str(tmp_path / "o"), split="val", num_shards=1,
                           skip_invalid=True, progress=False)
    assert (summary.boxes, summary.skipped_annotations) == (1, 2)
    assert "annotation 7 of image a.jpg has no [x, y, width, height] bbox" in summary.format()
    record = read_records(str(tmp_path / "o" / "tfrecords" / "*"))["1"]
    np.testing.assert_array_equal(record["labels"], [1])


def test_unreadable_or_wrong_size_image_is_named(tmp_path, encode_image, coco_writer):
    from keras_centernet.data import ConversionError, convert_coco

    images = {"bad.jpg": (b"not an image at all", 20, 20, 1), "small.jpg": (encode_image(10, 10), 20, 20, 2),
              "ok.jpg": (encode_image(8, 8), 8, 8, 3)}
    json_path, image_dir = coco_writer(str(tmp_path / "c"), images, [])
    with pytest.raises(ConversionError, match=r"bad\.jpg: not a readable image"):
        convert_coco(json_path, image_dir, str(tmp_path / "o"), split="val", num_shards=1, progress=False)
    summary = convert_coco(json_path, image_dir, str(tmp_path / "o"), split="val", num_shards=1,
                           skip_invalid=True, progress=False)
    assert (summary.images, summary.skipped_images) == (1, 2)
    assert "small.jpg: annotated size 20x20 but the file is 10x10" in summary.format()


def test_not_a_coco_json_is_named(tmp_path):
    from keras_centernet.data import convert_coco

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="bad.json: no 'images' list"):
        convert_coco(str(bad), str(tmp_path), str(tmp_path / "o"), progress=False)


@pytest.mark.slow
def test_parallel_workers_write_the_same_records(tiny_coco, tmp_path, read_records):
    serial = _convert(tiny_coco, str(tmp_path / "serial"), num_shards=3)
    parallel = _convert(tiny_coco, str(tmp_path / "parallel"), num_shards=3, workers=2)
    assert serial.format() == parallel.format()
    one = read_records(str(tmp_path / "serial" / "tfrecords" / "*"))
    two = read_records(str(tmp_path / "parallel" / "tfrecords" / "*"))
    for source_id in one:
        np.testing.assert_array_equal(one[source_id]["boxes"], two[source_id]["boxes"])
        assert one[source_id]["encoded"] == two[source_id]["encoded"]


def test_reconverting_removes_stale_shards_and_checks_the_label_map(tiny_coco, tmp_path, coco_writer, encode_image):
    from keras_centernet.data import ConversionError, convert_coco

    output = str(tmp_path / "out")
    _convert(tiny_coco, output, num_shards=3)
    _convert(tiny_coco, output, num_shards=2)  # the 3-shard files would otherwise be read as well
    assert sorted(os.listdir(os.path.join(output, "tfrecords"))) == [
        "coco_val.record-00000-of-00002", "coco_val.record-00001-of-00002"]
    other = [{"id": 1, "name": "cat"}, {"id": 2, "name": "cow"}]
    json_path, image_dir = coco_writer(str(tmp_path / "other"), {"a.jpg": (encode_image(8, 8), 8, 8, 1)}, [],
                                       categories=other)
    with pytest.raises(ConversionError, match="mscoco_label_map.pbtxt already lists other classes"):
        convert_coco(json_path, image_dir, output, split="train", num_shards=1, progress=False)
