"""`keras-centernet export`: the SavedModel's detections equal `predict`'s on the same letterboxed pixels."""

import contextlib
import io

import numpy as np
import pytest

from keras_centernet.cli import main
from keras_centernet.inference import Detector
from tests.commands.records import save_tiny_model

pytestmark = pytest.mark.tensorflow


def test_saved_model_detections_equal_predict(tmp_path):
    import tensorflow as tf

    from keras_centernet.preprocessing import Letterbox

    weights = str(tmp_path / "model.keras")
    model = save_tiny_model(weights, max_detections=10)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", "--weights", weights, "--output", str(tmp_path / "saved"), "--image_size", "64"]) == 0
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]

    images = np.random.default_rng(0).integers(0, 256, (2, 48, 80, 3), np.uint8)
    exported = {k: v.numpy() for k, v in serve(images=tf.constant(images)).items()}
    assert exported["boxes"].shape == (2, 10, 4) and exported["num_detections"].tolist() == [10, 10]

    # predict on the pipeline's letterbox of the same images, mapped back by the letterbox scale.
    letterboxed = np.stack([Letterbox(64).letterbox_image_tf(tf.constant(image, tf.float32))[0].numpy()
                            for image in images])
    predicted = model.predict(letterboxed, verbose=0)
    scale = 64 / 80
    np.testing.assert_allclose(exported["scores"], predicted["scores"], atol=1e-4)
    np.testing.assert_array_equal(exported["labels"], predicted["labels"])
    expected_boxes = np.clip(predicted["boxes"] / scale, 0, [80, 48, 80, 48])
    np.testing.assert_allclose(exported["boxes"], expected_boxes, atol=1e-4)
    np.testing.assert_array_equal(exported["class_ids"], np.asarray([3, 17, 90])[predicted["labels"]])

    # The numpy Detector (no TensorFlow inside) gives the same boxes in original pixels.
    detector = Detector(model, image_size=64, score_threshold=0.0, batch_size=2)
    for i, result in enumerate(detector([images[0], images[1]])):
        np.testing.assert_allclose(result["boxes"], exported["boxes"][i], atol=1e-3)
        np.testing.assert_allclose(result["scores"], exported["scores"][i], atol=1e-4)


def test_export_with_flip_and_padding_rows(tmp_path):
    import tensorflow as tf

    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, max_detections=5, score_threshold=0.99)  # nothing passes: all rows padding
    with contextlib.redirect_stdout(io.StringIO()):
        main(["export", "--weights", weights, "--output", str(tmp_path / "saved"), "--image-size", "32", "--flip"])
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    out = serve(images=tf.zeros([1, 30, 20, 3], tf.uint8))
    assert out["num_detections"].numpy().tolist() == [0]
    assert np.all(out["boxes"].numpy() == -1) and np.all(out["class_ids"].numpy() == -1)


def test_wrong_channels_and_floats_get_the_rule_or_are_accepted(tmp_path, capsys):
    import tensorflow as tf

    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, max_detections=4)
    output = tmp_path / "saved"
    assert main(["export", "--weights", weights, "--output", str(output), "--image_size", "64"]) == 0
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]  # written beside, renamed into place
    loaded = tf.saved_model.load(str(output))
    serve, serve_float = loaded.signatures["serving_default"], loaded.signatures["serving_float32"]
    for channels in (1, 4):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must be \[batch, height, width, 3\] RGB"):
            serve(images=tf.zeros([1, 40, 30, channels], tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"height and width >= 1"):
        serve(images=tf.zeros([1, 0, 30, 3], tf.uint8))
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError), match="expected to be a uint8 tensor"):
        serve(images=tf.zeros([1, 40, 30, 3], tf.float32))
    images = np.random.default_rng(1).integers(0, 256, (2, 40, 30, 3), np.uint8)
    as_uint8 = serve(images=tf.constant(images))
    as_float = serve_float(images=tf.constant(images, tf.float32))
    for key in ("boxes", "scores", "labels", "class_ids", "num_detections"):
        np.testing.assert_allclose(as_float[key].numpy(), as_uint8[key].numpy(), atol=1e-5)
    assert as_uint8["num_detections"].numpy().tolist() == [4, 4]

    # a second export replaces the first; bad sizes and model files are one line, before anything is written
    assert main(["export", "--weights", weights, "--output", str(output), "--image_size", "32"]) == 0
    capsys.readouterr()
    assert main(["export", "--weights", weights, "--output", str(tmp_path / "x"), "--image_size", "100"]) == 2
    assert capsys.readouterr().err == (
        "keras-centernet export: error: --image_size must be a positive multiple of 32, got 100 (nearest: 96)\n"
    )
    (tmp_path / "text.keras").write_text("not a model")
    assert main(["export", "--weights", str(tmp_path / "text.keras"), "--output", str(tmp_path / "x")]) == 2
    assert "text.keras is not a valid .keras model file (not a zip archive)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_export_defaults_to_the_size_the_model_was_trained_at(tmp_path):
    import tensorflow as tf

    from keras_centernet.preprocessing import Letterbox

    weights = str(tmp_path / "model.keras")
    model = save_tiny_model(weights, max_detections=4, image_size=64)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", "--weights", weights, "--output", str(tmp_path / "saved")]) == 0
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    image = np.random.default_rng(1).integers(0, 256, (1, 40, 100, 3), np.uint8)
    exported = serve(images=tf.constant(image))
    letterboxed = Letterbox(64).letterbox_image_tf(tf.constant(image[0]))[0][None]
    predicted = model.predict(letterboxed, verbose=0)
    np.testing.assert_allclose(exported["scores"].numpy(), predicted["scores"], atol=1e-4)
    expected = np.clip(predicted["boxes"] / (64 / 100), 0, [100, 40, 100, 40])
    np.testing.assert_allclose(exported["boxes"].numpy(), expected, atol=1e-3)
