"""`keras-centernet detect`: drawn images differ from the inputs only around the boxes it reports."""

import contextlib
import io
import json
import re

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


def _detect(tmp_path, *argv, weights=None):
    weights = weights or str(tmp_path / "model.keras")
    return main(["detect", "--weights", weights, "--output", str(tmp_path / "o"), *argv])


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--image_size", "100", "x.png"], "--image_size must be a positive multiple of 32, got 100 (nearest: 96)"),
        (["--batch_size", "0", "x.png"], "--batch_size must be an integer >= 1, got 0"),
        (["--image_size", "64", "nope.png"], "IMAGES_OR_DIRS: image or folder not found: nope.png"),
    ],
)
def test_bad_arguments_are_one_line_before_the_model_loads(tmp_path, capsys, argv, message):
    assert _detect(tmp_path, *argv) == 2  # model.keras does not even exist: checked before loading
    assert capsys.readouterr().err == f"keras-centernet detect: error: {message}\n"
    assert not (tmp_path / "o" / "detections.json").exists()


def test_invalid_model_file_is_named(tmp_path, capsys):
    (tmp_path / "model.keras").write_text("not a model")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    assert _detect(tmp_path, "--image_size", "64", str(tmp_path / "x.png")) == 2
    expected = f"{tmp_path / 'model.keras'} is not a valid .keras model file (not a zip archive)"
    assert capsys.readouterr().err == f"keras-centernet detect: error: {expected}\n"
    assert _detect(tmp_path, "--image_size", "64", str(tmp_path / "x.png"), weights=str(tmp_path / "no.keras")) == 2
    assert capsys.readouterr().err.endswith("no.keras: no such file\n")


def test_unreadable_images_are_skipped_and_counted(tmp_path, capsys):
    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, max_detections=2)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    Image.fromarray(np.full((40, 30, 3), 90, np.uint8)).save(folder / "good.png")
    Image.fromarray(np.full((20, 50), 32768, np.uint16)).save(folder / "sixteen.png")  # 16-bit gray
    code = _detect(tmp_path, "--image_size", "64", "--batch_size", "2", "--score_threshold", "0", str(folder))
    out, err = capsys.readouterr()
    assert code == 0
    skip_lines = re.findall(r"skipped: [^\r\n]*", err)  # printed above the progress bar
    assert len(skip_lines) == 1, err
    assert skip_lines[0].startswith(f"skipped: cannot read image {folder / 'broken.jpg'}: ")
    assert "2 images, 4 detections, 1 skipped (unreadable)" in out
    records = json.loads((tmp_path / "o" / "detections.json").read_text())
    assert [r["output"] for r in records] == ["good.png", "sixteen.png"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["detections.json", "good.png", "sixteen.png"]
    drawn = np.asarray(Image.open(tmp_path / "o" / "sixteen.png"))
    assert drawn.shape == (20, 50, 3) and np.median(drawn) == 128  # read at its real brightness
    assert _detect(tmp_path, "--image_size", "64", str(folder / "broken.jpg")) == 1  # nothing readable


@pytest.mark.parametrize("model_size,flags,expected", [(64, [], 64), (None, [], 512), (64, ["--image_size", "32"], 32)])
def test_image_size_defaults_to_the_size_the_model_was_trained_at(tmp_path, monkeypatch, model_size, flags, expected):
    from keras_centernet.preprocessing import Letterbox

    sizes = []
    original = Letterbox.letterbox_image
    monkeypatch.setattr(Letterbox, "letterbox_image", lambda self, image: sizes.append(self.image_size) or
                        original(self, image))  # fmt: skip
    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, image_size=model_size, max_detections=2)
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "a.png")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["detect", "--weights", weights, "--output", str(tmp_path / "out"), str(tmp_path / "a.png"),
                     *flags]) == 0  # fmt: skip
    assert sizes == [expected]
