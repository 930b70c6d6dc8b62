"""Flip test (CenterNet section 5, "flip augmentation"): the mirrored image's heatmap and sizes are flipped BACK
along the width and averaged with the original's (heatmaps as probabilities); offsets come from the original.

The references are numpy: hand-made head outputs with a hand-computed box, the average written out with
`[:, :, ::-1]`, and, for a real model, `model(x)` and `model(x[:, :, ::-1])` averaged in numpy. The command
tests check that `evaluate --flip` and `export --flip` really reach the model.
"""

import contextlib
import io
import json
import os

import keras
import numpy as np
import pytest

from tests.helpers import as_numpy

H, W, C = 8, 8, 2


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _hand_outputs():
    """Original and mirrored head outputs on an 8 x 8 map with one object of class 1 at row 3, column 2."""
    original = {
        "heatmap": np.full((1, H, W, C), -6.0, np.float32),
        "size": np.zeros((1, H, W, 2), np.float32),
        "offset": np.zeros((1, H, W, 2), np.float32),
    }
    mirrored = {key: value.copy() for key, value in original.items()}
    original["heatmap"][0, 3, 2, 1] = 2.0
    original["size"][0, 3, 2] = (4.0, 2.0)
    original["offset"][0, 3, 2] = (0.5, 0.25)
    # In the mirrored image the object sits at column W - 1 - 2 = 5; its offset there must not be used.
    mirrored["heatmap"][0, 3, 5, 1] = 0.0
    mirrored["size"][0, 3, 5] = (2.0, 4.0)
    mirrored["offset"][0, 3, 5] = (0.9, 0.9)
    return original, mirrored


def test_flip_decode_of_hand_made_outputs(tiny_model):
    model = tiny_model(C)
    original, mirrored = _hand_outputs()
    decoded = as_numpy(model.decode(original, mirrored))
    # Score: (sigmoid(2) + sigmoid(0)) / 2. Size: ((4, 2) + (2, 4)) / 2 = (3, 3). Center: (2.5, 3.25) cells.
    # Box: x (2.5 -+ 1.5) * 4 = (4, 16), y (3.25 -+ 1.5) * 4 = (7, 19).
    assert decoded["scores"][0, 0] == pytest.approx((_sigmoid(2.0) + 0.5) / 2, rel=1e-5)
    assert decoded["labels"][0, 0] == 1
    np.testing.assert_allclose(decoded["boxes"][0, 0], (4.0, 7.0, 16.0, 19.0), atol=1e-4)
    # The second detection is background: (sigmoid(-6) + sigmoid(-6)) / 2 = sigmoid(-6); no second peak at col 5.
    assert decoded["scores"][0, 1] == pytest.approx(float(_sigmoid(-6.0)), rel=1e-4)


def _numpy_flip_average(original, mirrored):
    """The paper's flip average written out in numpy (width is axis 2 of [batch, h, w, channels])."""
    heatmap = (_sigmoid(original["heatmap"]) + _sigmoid(mirrored["heatmap"])[:, :, ::-1, :]) / 2
    size = (np.asarray(original["size"], np.float64) + np.asarray(mirrored["size"])[:, :, ::-1, :]) / 2
    return {
        "heatmap": heatmap.astype(np.float32),
        "size": size.astype(np.float32),
        "offset": np.asarray(original["offset"], np.float32),
    }


def _assert_same_detections(got, expected, atol=1e-5):
    np.testing.assert_allclose(got["scores"], expected["scores"], rtol=1e-5, atol=atol)
    np.testing.assert_array_equal(got["labels"], expected["labels"])
    np.testing.assert_allclose(got["boxes"], expected["boxes"], atol=1e-3)


def test_flip_decode_of_random_outputs_equals_the_numpy_average(tiny_model):
    model = tiny_model(C, max_detections=20)
    rng = np.random.default_rng(3)
    h, w = 6, 10  # non-square, so a flip along the height or a transposition cannot pass
    original, mirrored = (
        {
            "heatmap": rng.normal(-1.0, 2.0, (2, h, w, C)).astype(np.float32),
            "size": rng.uniform(0.5, 5.0, (2, h, w, 2)).astype(np.float32),
            "offset": rng.uniform(0.0, 1.0, (2, h, w, 2)).astype(np.float32),
        }
        for _ in range(2)
    )
    got = as_numpy(model.decode(original, mirrored))
    expected = as_numpy(model.decoder(_numpy_flip_average(original, mirrored), from_logits=False))
    _assert_same_detections(got, expected)
    plain = as_numpy(model.decode(original))
    assert not np.allclose(plain["scores"], got["scores"], atol=1e-4)


def _images(count=2, size=64, seed=5):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3)).astype("float32")


def _reference_flip_predict(model, images):
    original = as_numpy(model(images, training=False))
    mirrored = as_numpy(model(images[:, :, ::-1, :].copy(), training=False))
    return as_numpy(model.decoder(_numpy_flip_average(original, mirrored), from_logits=False))


def test_predict_with_flip_test_equals_the_numpy_flip_average(tiny_model):
    from keras_centernet.inference import set_flip_test

    model = tiny_model(C, max_detections=20)
    images = _images()
    plain = as_numpy(model.predict(images, verbose=0))  # traces the no-flip predict function first
    set_flip_test(model, True)
    flipped = as_numpy(model.predict(images, verbose=0))
    expected = _reference_flip_predict(model, images)
    _assert_same_detections(flipped, expected)
    assert np.abs(plain["scores"] - flipped["scores"]).max() > 1e-4  # the untrained model is not symmetric
    set_flip_test(model, False)
    _assert_same_detections(as_numpy(model.predict(images, verbose=0)), plain)


def _quiet_main(argv):
    from keras_centernet.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def _save_model(path, **kwargs):
    from keras_centernet.data.synthetic import SYNTHETIC_CLASS_NAMES
    from keras_centernet.models.centernet import CenterNet

    keras.utils.set_random_seed(0)
    model = CenterNet(
        3, backbone="tiny", neck="deconv", class_ids=[3, 17, 90], class_names=list(SYNTHETIC_CLASS_NAMES), **kwargs
    )
    model.save(path)
    return model


@pytest.mark.tensorflow
def test_evaluate_flip_reaches_the_model(tmp_path, synthetic_records):
    from keras_centernet.data.pipeline import build_dataset

    weights = str(tmp_path / "model.keras")
    model = _save_model(weights, max_detections=5)
    argv = ["evaluate", "--data_dir", synthetic_records, "--weights", weights, "--image_size", "64",
            "--batch_size", "4", "--max_images", "4", "--output", str(tmp_path / "metrics.json"),
            "--detections_output", str(tmp_path / "detections.json"), "--flip"]  # fmt: skip
    assert _quiet_main(argv) == 0
    detections = json.loads((tmp_path / "detections.json").read_text())
    assert json.loads((tmp_path / "metrics.json").read_text())["flip"] is True

    # The same 4 val images as the command saw them (64 px originals: letterbox scale 1).
    images, targets = next(iter(build_dataset(
        os.path.join(synthetic_records, "tfrecords", "coco_val.record-*"), training=False, batch_size=4,
        image_size=64, label_map=[3, 17, 90],
    )))  # fmt: skip
    images = np.asarray(images)
    assert np.asarray(targets["image_info"]["scale"]).tolist() == [1.0] * 4
    source_ids = [int(s) for s in np.asarray(targets["image_info"]["source_id"]).astype(str)]
    flipped, plain = _reference_flip_predict(model, images), as_numpy(model.predict(images, verbose=0))
    for row, image_id in enumerate(source_ids):
        got = sorted((d["score"] for d in detections if d["image_id"] == image_id), reverse=True)
        assert len(got) == 5
        np.testing.assert_allclose(got, flipped["scores"][row][:5], rtol=1e-4, atol=1e-5)
    assert np.abs(flipped["scores"][:, :5] - plain["scores"][:, :5]).max() > 1e-4  # so without --flip it fails


@pytest.mark.tensorflow
def test_export_flip_reaches_the_saved_model(tmp_path):
    import tensorflow as tf

    weights = str(tmp_path / "model.keras")
    model = _save_model(weights, max_detections=8)
    images = _images(2, 64, seed=9)
    argv = ["export", "--weights", weights, "--output", str(tmp_path / "saved"), "--image_size", "64", "--flip"]
    assert _quiet_main(argv) == 0
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_float32"]
    served = {k: v.numpy() for k, v in serve(images=tf.constant(images)).items()}
    # 64 px images at --image_size 64: letterbox scale 1, boxes in the same pixels as predict's. Exported without
    # --flip the SavedModel equals plain predict (tests/commands/test_export_command.py), which differs:
    _assert_same_detections(served, _reference_flip_predict(model, images), atol=1e-4)
    assert np.abs(served["scores"] - as_numpy(model.predict(images, verbose=0))["scores"]).max() > 1e-4
