"""Pascal VOC xml -> TFRecords, on deepforest's real annotations and on a generated folder.

deepforest is installed for the tests with `pip install --no-deps deepforest` (only its data/ folder is used;
the package is never imported).
"""

import importlib.util
import os
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow


def _deepforest_data():
    spec = importlib.util.find_spec("deepforest")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("deepforest is not installed (pip install --no-deps deepforest): its VOC data is the fixture")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "data")
    if not any(name.endswith(".xml") for name in os.listdir(folder)):
        pytest.skip(f"deepforest's data folder {folder} has no .xml annotations")
    return folder


def _xml_boxes(path):
    root = ElementTree.parse(path).getroot()
    size = root.find("size")
    width, height = int(size.find("width").text), int(size.find("height").text)
    objects = [(obj.find("name").text, [float(obj.find("bndbox").find(key).text)
                                        for key in ("xmin", "ymin", "xmax", "ymax")]) for obj in root.iter("object")]
    return width, height, objects


def test_deepforest_annotations_convert_and_round_trip(tmp_path, read_records):
    import tensorflow as tf
    from PIL import Image

    from keras_centernet.data import convert_voc, read_label_map

    data = _deepforest_data()
    output = str(tmp_path / "forest")
    summary = convert_voc(data, data, output, split="train", num_shards=2, workers=1, progress=False)
    xml_files = sorted(name for name in os.listdir(data) if name.endswith(".xml"))
    expected = {os.path.splitext(name)[0]: _xml_boxes(os.path.join(data, name)) for name in xml_files}
    classes = sorted({name for _, _, objects in expected.values() for name, _ in objects})
    assert read_label_map(os.path.join(output, "mscoco_label_map.pbtxt")) == dict(enumerate(classes, start=1))
    assert summary.images == len(xml_files) and summary.skipped_images == 0
    assert summary.boxes + summary.dropped_boxes == sum(len(objects) for _, _, objects in expected.values())

    records = read_records(os.path.join(output, "tfrecords", "coco_train.record-*"))
    assert sorted(records) == sorted(expected)
    for stem, (width, height, objects) in expected.items():
        record = records[stem]
        assert (record["width"], record["height"]) == (width, height)
        pixels = np.clip(np.array([box for _, box in objects], np.float64), 0, [width, height, width, height])
        np.testing.assert_allclose(record["boxes"], (pixels / [width, height, width, height]).astype(np.float32),
                                   rtol=1e-6)
        np.testing.assert_array_equal(record["labels"], [classes.index(name) + 1 for name, _ in objects])
    if "OSBS_029" in records:  # annotated against a TIFF: re-encoded losslessly as PNG
        assert records["OSBS_029"]["format"] == b"png"
        decoded = tf.io.decode_image(records["OSBS_029"]["encoded"], channels=3).numpy()
        original = Image.open(os.path.join(data, "OSBS_029.tif")).convert("RGB")
        np.testing.assert_array_equal(decoded, np.asarray(original))


def test_voc_classes_argument_and_unknown_class(tmp_path, encode_image, read_records):
    from keras_centernet.data import ConversionError, convert_voc

    folder = tmp_path / "voc"
    folder.mkdir()
    for stem, names in (("one", ["dog", "cat"]), ("two", ["cat", "cow"])):
        (folder / f"{stem}.jpg").write_bytes(encode_image(30, 40))
        objects = "".join(
            f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{2 + i}</xmin><ymin>3</ymin>"
            f"<xmax>{20 + i}</xmax><ymax>25</ymax></bndbox></object>" for i, name in enumerate(names))
        (folder / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><size><width>40</width><height>30</height>"
            f"<depth>3</depth></size>{objects}</annotation>")
    with pytest.raises(ConversionError, match=r"two\.xml: object class 'cow' is not in the classes"):
        convert_voc(str(folder), None, str(tmp_path / "o"), classes=["dog", "cat"], progress=False)
    summary = convert_voc(str(folder), None, str(tmp_path / "o"), classes=["dog", "cat"], skip_invalid=True,
                          progress=False)
    assert (summary.boxes, summary.skipped_annotations) == (3, 1)
    records = read_records(str(tmp_path / "o" / "tfrecords" / "*"))
    np.testing.assert_array_equal(records["one"]["labels"], [1, 2])
    np.testing.assert_array_equal(records["two"]["labels"], [2])
    np.testing.assert_allclose(records["one"]["boxes"][1], np.float32([3 / 40, 3 / 30, 21 / 40, 25 / 30]), rtol=1e-6)
