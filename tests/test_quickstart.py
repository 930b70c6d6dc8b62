"""examples/quickstart.py (`make demo`): the tiling of deepforest's photos, and a 2-step run of the whole demo."""

import glob
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", os.path.join(ROOT, "examples", "quickstart.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tile_boxes_clip_shift_and_drop_mostly_outside(quickstart):
    boxes = [
        (110, 120, 130, 140),  # inside the tile at (100, 100): shifted by (100, 100)
        (90, 100, 110, 110),  # half outside on the left (50% visible): dropped
        (170, 100, 210, 110),  # 75% inside on the right: clipped at the tile's edge
        (300, 300, 320, 320),  # outside: dropped
    ]
    assert quickstart.tile_boxes(boxes, 100, 100, 100) == [(10, 20, 30, 40), (70, 0, 100, 10)]


def test_voc_xml_round_trips_with_one_class(quickstart, tmp_path):
    path = tmp_path / "tile.xml"
    path.write_text(quickstart.voc_xml("tile.png", 400, 300, [(1, 2, 30.4, 40.6), (5, 6, 7, 8)]))
    assert quickstart.read_boxes(str(path)) == [[1, 2, 30, 41], [5, 6, 7, 8]]
    assert "<width>400</width><height>300</height>" in path.read_text()
    assert path.read_text().count(f"<name>{quickstart.CLASS_NAME}</name>") == 2


def _source_ids(data_dir, split):
    """The image/source_id of every record of `split` in `data_dir`."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(data_dir, "tfrecords", f"coco_{split}.record-*")))
    examples = [tf.train.Example.FromString(raw.numpy()) for raw in tf.data.TFRecordDataset(files)]
    return [example.features.feature["image/source_id"].bytes_list.value[0].decode() for example in examples]


@pytest.mark.slow  # ~35 s of CPU: TensorFlow start-up, conversion of 47 images, compile, evaluate, detect
@pytest.mark.tensorflow
def test_two_step_demo_trains_without_the_soap_site_and_draws_on_it(quickstart, tmp_path, capsys):
    if importlib.util.find_spec("deepforest") is None:
        pytest.skip("deepforest is not installed (pip install --no-deps deepforest): its photos are the demo's data")
    out = tmp_path / "demo"
    assert quickstart.main(["--output", str(out), "--steps", "2", "--batch_size", "2", "--image_size", "64"]) == 0

    train_ids, val_ids = _source_ids(str(out / "data"), "train"), _source_ids(str(out / "data"), "val")
    assert len(train_ids) == 46 and not [name for name in train_ids if "SOAP" in name]
    assert len(val_ids) == 1 and "SOAP_061" in val_ids[0]
    metrics = json.loads((out / "metrics.json").read_text())
    metrics = metrics.get("metrics", metrics)
    assert 0.0 <= metrics["AP"] <= metrics["AP50"] <= 1.0
    from PIL import Image

    for name in ("SOAP_031.png", "SOAP_061.png"):
        assert Image.open(out / "detections" / name).size == (400, 400)
    printed = capsys.readouterr().out
    for row in ("data", "train", "evaluate", "detect", "total", "COCO AP50 (held-out)", "SOAP_061: 37 trees"):
        assert row in printed
