"""inference.py input checks: image files read at their real brightness, broken model files named as such."""

import zipfile

import numpy as np
import pytest
from PIL import Image

from keras_centernet.inference import Detector, load_image, load_model
from keras_centernet.validation import InputError


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((4, 5), 32768, np.uint16)).save(tmp_path / "half.png")
    assert Image.open(tmp_path / "half.png").mode.startswith("I")
    image = load_image(tmp_path / "half.png")
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8
    assert np.all(image == 128)  # 32768 / 65535 * 255 = 127.5 -> 128; converting to RGB would clip to 255
    ramp = np.array([[0, 257, 65535]], np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    assert load_image(tmp_path / "ramp.png")[0, :, 0].tolist() == [0, 1, 255]


def test_palette_and_alpha_images_keep_their_colours(tmp_path):
    palette = Image.new("P", (3, 2))
    palette.putpalette([255, 0, 0, 0, 200, 0, 10, 20, 250] + [0] * (256 * 3 - 9))
    palette.putdata([0, 1, 2, 2, 1, 0])
    palette.save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    image = load_image(tmp_path / "palette.png")
    assert image[0].tolist() == [[255, 0, 0], [0, 200, 0], [10, 20, 250]]
    assert image[1].tolist() == [[10, 20, 250], [0, 200, 0], [255, 0, 0]]
    Image.fromarray(np.array([[[90, 0]]], np.uint8), "LA").save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png").tolist() == [[[90, 90, 90]]]  # alpha 0 dropped, not blended
    Image.fromarray(np.array([[[1, 2, 3, 0]]], np.uint8), "RGBA").save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png").tolist() == [[[1, 2, 3]]]


def test_load_model_names_missing_and_invalid_files(tmp_path):
    with pytest.raises(InputError, match=r"missing\.keras: no such file$"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "text.keras").write_text("not a model\n")
    with pytest.raises(InputError, match=r"text\.keras is not a valid \.keras model file \(not a zip archive\)$"):
        load_model(tmp_path / "text.keras")
    with zipfile.ZipFile(tmp_path / "full.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": "CenterNet", "config": {}}' + " " * 4000)
        archive.writestr("model.weights.h5", b"\0" * 4000)
    with pytest.raises(InputError, match=r"full\.keras is not a valid \.keras model file \(Could not locate class"):
        load_model(tmp_path / "full.keras")  # a zip, but not a model Keras can rebuild
    data = (tmp_path / "full.keras").read_bytes()
    (tmp_path / "truncated.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"truncated\.keras is not a valid \.keras model file \(not a zip archive\)"):
        load_model(tmp_path / "truncated.keras")


def test_detector_checks_sizes_before_loading_the_model(tmp_path):
    with pytest.raises(InputError, match=r"^image_size must be a positive multiple of 32, got 100 \(nearest: 96\)$"):
        Detector(tmp_path / "missing.keras", image_size=100)
    with pytest.raises(InputError, match="batch_size must be an integer >= 1, got 0"):
        Detector(tmp_path / "missing.keras", image_size=64, batch_size=0)
