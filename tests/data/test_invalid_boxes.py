"""Negative-size and NaN / infinite boxes are invalid annotations (named), not "zero area after clipping"."""

import math
import os

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow


def _annotation(annotation_id, bbox):
    return {"id": annotation_id, "image_id": 1, "category_id": 1, "bbox": bbox, "iscrowd": 0, "area": 25.0}


def test_coco_negative_and_non_finite_boxes_are_named_and_skipped_only_on_request(
    tmp_path, coco_writer, encode_image, read_records
):
    from keras_centernet.data import ConversionError, convert_coco

    annotations = [
        _annotation(1, [2, 3, 10, 8]),  # good
        _annotation(2, [10, 10, -5, 10]),  # negative width
        _annotation(3, [math.nan, 1, 4, 4]),  # json NaN
        _annotation(4, [1, 1, 4, math.inf]),  # json Infinity
        _annotation(5, [70, 5, 10, 10]),  # valid box outside the 40x30 image: zero area after clipping
    ]
    json_path, image_dir = coco_writer(str(tmp_path / "c"), {"a.jpg": (encode_image(30, 40), 40, 30, 1)},
                                       annotations)
    output = str(tmp_path / "o")
    with pytest.raises(ConversionError) as raised:
        convert_coco(json_path, image_dir, output, split="val", num_shards=1, progress=False)
    message = str(raised.value)
    assert message.startswith("3 invalid inputs")
    assert "annotation 2 of image a.jpg has an invalid bbox [10, 10, -5, 10]: negative width or height" in message
    assert "annotation 3 of image a.jpg has an invalid bbox [nan, 1, 4, 4]: non-finite" in message
    assert "annotation 4 of image a.jpg has an invalid bbox [1, 1, 4, inf]: non-finite" in message
    assert not os.path.exists(output)  # refused before any work

    summary = convert_coco(json_path, image_dir, output, split="val", num_shards=1, skip_invalid=True,
                           progress=False)
    assert (summary.boxes, summary.skipped_annotations, summary.dropped_boxes) == (1, 3, 1)
    assert "annotation 2 of image a.jpg has an invalid bbox" in summary.format()
    record = read_records(os.path.join(output, "tfrecords", "*"))["1"]
    np.testing.assert_allclose(record["boxes"], np.float32([[2 / 40, 3 / 30, 12 / 40, 11 / 30]]), rtol=1e-6)


def test_voc_inverted_and_nan_boxes_are_named(tmp_path, encode_image):
    from keras_centernet.data import ConversionError, convert_voc

    folder = tmp_path / "voc"
    folder.mkdir()
    (folder / "one.jpg").write_bytes(encode_image(30, 40))
    objects = "".join(
        f"<object><name>cat</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>"
        "</bndbox></object>" for x0, y0, x1, y1 in ((2, 3, 20, 25), (20, 3, 2, 25), (2, "nan", 20, 25)))
    (folder / "one.xml").write_text(f"<annotation><filename>one.jpg</filename><size><width>40</width>"
                                    f"<height>30</height></size>{objects}</annotation>")
    with pytest.raises(ConversionError) as raised:
        convert_voc(str(folder), None, str(tmp_path / "o"), progress=False)
    message = str(raised.value)
    assert "one.xml: object 2 (cat) has an invalid <bndbox> (20.0, 3.0, 2.0, 25.0): negative width or height" in message
    assert "one.xml: object 3 (cat) has an invalid <bndbox> (2.0, nan, 20.0, 25.0): non-finite" in message
    summary = convert_voc(str(folder), None, str(tmp_path / "o"), skip_invalid=True, progress=False)
    assert (summary.boxes, summary.skipped_annotations, summary.dropped_boxes) == (1, 2, 0)


def test_write_records_names_invalid_boxes_of_any_format(tmp_path, encode_image):
    from keras_centernet.data import ConversionError
    from keras_centernet.data.conversion import ImageEntry, write_records

    path = tmp_path / "x.jpg"
    path.write_bytes(encode_image(20, 20))

    def entry():
        boxes = [(1, 1, 5, 5), (1, float("nan"), 5, 5)]
        return ImageEntry(path=str(path), source_id="x", filename="x.jpg", boxes=boxes, labels=[1, 1],
                          texts=["cat", "cat"])

    with pytest.raises(ConversionError, match=r"x\.jpg: box 1 \(1, nan, 5, 5\): non-finite"):
        write_records([entry()], str(tmp_path / "o"), "val", 1, {1: "cat"}, progress=False)
    summary = write_records([entry()], str(tmp_path / "o"), "val", 1, {1: "cat"}, skip_invalid=True, progress=False)
    assert (summary.boxes, summary.skipped_annotations) == (1, 1)
