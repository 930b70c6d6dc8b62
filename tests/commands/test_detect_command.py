"""`keras-centernet detect`: drawn images differ from the inputs only around the boxes it reports."""

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from keras_centernet.cli import main
from keras_centernet.inference import load_image
from tests.commands.records import pixels_changed, save_tiny_model
from tests.test_visualization import allowed_mask


def _images(folder):
    rng = np.random.default_rng(0)
    folder.mkdir()
    rgb = rng.integers(0, 256, (60, 80, 3), np.uint8)
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (70, 50), np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (40, 90, 4), np.uint8)).save(folder / "rgba.png")
    return folder


def test_detect_draws_only_around_reported_boxes(tmp_path):
    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, max_detections=3)
    inputs = _images(tmp_path / "in")
    extra = tmp_path / "more"
    extra.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(extra / "rgb.png")  # same name, other folder
    output = tmp_path / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(
            [
                "detect",
                "--weights",
                weights,
                "--output",
                str(output),
                "--score-threshold",
                "0.0",
                "--image_size",
                "64",
                "--line-width",
                "2",
                str(inputs),
                str(extra / "rgb.png"),
            ]
        )
    assert code == 0
    records = json.loads((output / "detections.json").read_text())
    assert [r["output"] for r in records] == ["gray.png", "rgb.png", "rgba.png", "rgb_1.png"]
    for record in records:
        original = load_image(record["file"])
        drawn = np.asarray(Image.open(output / record["output"]))
        assert drawn.shape == original.shape == (record["height"], record["width"], 3)
        assert len(record["detections"]) == 3
        boxes = np.array([d["box"] for d in record["detections"]])
        assert boxes.min() >= 0 and np.all(boxes[:, 2] <= record["width"]) and np.all(boxes[:, 3] <= record["height"])
        assert {d["class_name"] for d in record["detections"]} <= {"rectangle", "ellipse", "triangle"}
        changed = pixels_changed(original, drawn)
        assert changed.any()
        tag_height = 16  # font size 12 for line width 2, + padding
        assert not np.any(changed & ~allowed_mask(original.shape[:2], boxes, 2, tag_height)), record["file"]


def test_detect_threshold_and_missing_input(tmp_path):
    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, max_detections=3)
    inputs = _images(tmp_path / "in")
    with contextlib.redirect_stdout(io.StringIO()):
        main(
            [
                "detect",
                "--weights",
                weights,
                "--output",
                str(tmp_path / "out"),
                "--score-threshold",
                "1.01",
                "--image-size",
                "64",
                str(inputs / "rgb.png"),
            ]
        )
    record = json.loads((tmp_path / "out" / "detections.json").read_text())[0]
    assert record["detections"] == []
    drawn = np.asarray(Image.open(tmp_path / "out" / "rgb.png"))
    assert np.array_equal(drawn, load_image(inputs / "rgb.png"))  # nothing drawn, PNG lossless
    with pytest.raises(SystemExit, match="nope.png"):
        main(["detect", "--weights", weights, "--output", str(tmp_path / "o"), str(inputs / "nope.png")])
