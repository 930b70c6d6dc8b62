"""inference.py: letterbox math, any-size images back to original pixels, a real CenterNet end to end."""

import numpy as np
import pytest

from keras_centernet.inference import Detector, detections_to_json, list_images, load_image
from keras_centernet.preprocessing import Letterbox, boxes_to_original, letterbox_scale


def letterbox_image(image, image_size):
    return Letterbox(image_size).letterbox_image(image)


class BrightBoxModel:
    """Stand-in detector: one box around the pixels brighter than 200 of each input, in input pixels."""

    num_classes = 2
    class_ids = [7, 42]
    class_names = ["dark", "bright"]

    def __init__(self):
        self.inputs = []

    def predict_on_batch(self, images):
        images = np.asarray(images)
        self.inputs.append(images)
        batch, k = images.shape[0], 3
        out = {
            "boxes": -np.ones((batch, k, 4), np.float32),
            "scores": np.zeros((batch, k), np.float32),
            "labels": -np.ones((batch, k), np.int32),
            "num_detections": np.zeros((batch,), np.int32),
        }
        for i, image in enumerate(images):
            ys, xs = np.nonzero(image.min(axis=-1) > 200)
            if ys.size:
                out["boxes"][i, 0] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
                out["boxes"][i, 1] = (0, 0, 8, 8)
                out["scores"][i, :2] = (0.9, 0.1)
                out["labels"][i, :2] = (1, 0)
                out["num_detections"][i] = 2
        return out


def _image_with_box(height, width, box, channels=3):
    image = np.full((height, width, channels), 40, np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    return image


def test_letterbox_math():
    assert letterbox_scale(480, 640, 512) == pytest.approx(0.8)
    np.testing.assert_allclose(boxes_to_original([[80, 40, 160, 120]], 0.8), [[100, 50, 200, 150]])
    np.testing.assert_allclose(boxes_to_original([[-5, 0, 600, 500]], 0.8, 480, 640), [[0, 0, 640, 480]])
    with pytest.raises(ValueError, match="positive"):
        letterbox_scale(0, 10, 512)


@pytest.mark.tensorflow
@pytest.mark.parametrize("height,width,size", [(480, 640, 512), (64, 32, 128), (100, 37, 64), (300, 301, 512)])
def test_numpy_letterbox_equals_the_pipeline_letterbox(height, width, size):
    import tensorflow as tf

    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), np.uint8)
    expected, expected_scale = Letterbox(size).letterbox_image_tf(tf.constant(image))
    canvas, scale = letterbox_image(image, size)
    np.testing.assert_allclose(canvas, expected.numpy(), atol=1e-3)
    assert scale == float(expected_scale)
    boxes = np.array([[3.0, 7.0, 20.0, 30.0]])
    np.testing.assert_allclose(
        boxes_to_original(boxes, scale),
        boxes_to_original(tf.constant(boxes, tf.float32), expected_scale).numpy(),
    )


def test_letterbox_image_top_left_with_zero_padding():
    image = _image_with_box(480, 640, (100, 50, 300, 250))
    canvas, scale = letterbox_image(image, 512)
    assert canvas.shape == (512, 512, 3) and canvas.dtype == np.float32 and scale == pytest.approx(0.8)
    assert np.all(canvas[384:] == 0)  # padded bottom
    assert canvas[:384].min() > 0  # the image fills the top
    bright = np.nonzero(canvas[..., 0] > 200)
    assert (bright[1].min(), bright[0].min(), bright[1].max() + 1, bright[0].max() + 1) == (80, 40, 240, 200)


def test_640x480_image_round_trips_to_original_pixels():
    box = (100, 52, 300, 248)
    model = BrightBoxModel()
    detector = Detector(model, image_size=512, score_threshold=0.3, batch_size=2)
    result = detector(_image_with_box(480, 640, box))
    assert model.inputs[0].shape == (2, 512, 512, 3)
    assert (result["height"], result["width"]) == (480, 640)
    np.testing.assert_allclose(result["boxes"], [box], atol=1.5)  # 1 input pixel = 1.25 original
    assert result["class_names"] == ["bright"] and list(result["class_ids"]) == [42]
    assert result["scores"].shape == (1,)  # 0.1 is under the threshold


def test_batches_of_mixed_sizes_modes_and_paths(tmp_path):
    from PIL import Image

    boxes = [(10, 20, 50, 60), (30, 5, 200, 90), (0, 0, 33, 47), (64, 64, 128, 100)]
    images = [
        _image_with_box(100, 80, boxes[0]),
        _image_with_box(120, 300, boxes[1], channels=4),  # RGBA
        _image_with_box(200, 200, boxes[2])[..., 0],  # grayscale
        _image_with_box(128, 128, boxes[3]),
    ]
    path = tmp_path / "gray.png"
    Image.fromarray(images[2]).save(path)
    images[2] = str(path)
    detector = Detector(BrightBoxModel(), image_size=128, score_threshold=0.05, batch_size=3)
    results = detector(images)
    assert len(results) == 4
    for result, box in zip(results, boxes):
        side = max(result["height"], result["width"])
        np.testing.assert_allclose(result["boxes"][0], box, atol=1.5 * side / 128)
        assert len(result["boxes"]) == 2
    record = detections_to_json(results[0], "a.jpg")
    assert record["file"] == "a.jpg" and record["detections"][0]["class_name"] == "bright"
    assert record["detections"][0]["box"] == [round(float(v), 2) for v in results[0]["boxes"][0]]


def test_load_image_and_list_images_errors(tmp_path):
    assert load_image(np.zeros((5, 6, 2), np.uint8)).shape == (5, 6, 3)
    assert load_image(np.full((5, 6), 300.0)).max() == 255
    with pytest.raises(ValueError, match="shape"):
        load_image(np.zeros((5, 6, 7)))
    (tmp_path / "broken.jpg").write_bytes(b"no image")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_image(tmp_path / "broken.jpg")
    with pytest.raises(FileNotFoundError, match="nothing"):
        list_images([tmp_path / "nothing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        list_images([tmp_path / "empty"])
    with pytest.raises(ValueError, match="multiple of 32"):
        Detector(BrightBoxModel(), image_size=100)


def test_real_centernet_detector_boxes_inside_original_images():
    from keras_centernet.models.centernet import CenterNet

    model = CenterNet(3, backbone="tiny", neck="deconv", max_detections=10, class_ids=[1, 5, 9])
    detector = Detector(model, image_size=64, score_threshold=0.0, batch_size=2)
    rng = np.random.default_rng(0)
    results = detector([rng.integers(0, 255, (48, 80, 3), np.uint8), rng.integers(0, 255, (90, 30, 3), np.uint8)])
    for result, (h, w) in zip(results, [(48, 80), (90, 30)]):
        assert result["boxes"].shape == (10, 4)
        assert result["boxes"].min() >= 0
        assert np.all(result["boxes"][:, [0, 2]] <= w) and np.all(result["boxes"][:, [1, 3]] <= h)
        assert set(result["class_ids"]) <= {1, 5, 9}
        assert np.all(np.diff(result["scores"]) <= 1e-6)


def test_flip_test_switch_rebuilds_predict():
    from keras_centernet.inference import set_flip_test
    from keras_centernet.models.centernet import CenterNet

    model = CenterNet(2, backbone="tiny", neck="deconv", max_detections=5)
    flipped = CenterNet(2, backbone="tiny", neck="deconv", max_detections=5, flip_test=True)
    flipped.set_weights(model.get_weights())
    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    plain = model.predict_on_batch(images)
    set_flip_test(model, True)
    switched = model.predict_on_batch(images)
    reference = flipped.predict_on_batch(images)
    np.testing.assert_allclose(switched["scores"], reference["scores"], atol=1e-5)
    assert not np.allclose(plain["scores"], switched["scores"], atol=1e-5)
    detector = Detector(model, image_size=64, flip_test=False)
    assert model.flip_test is False
    np.testing.assert_allclose(detector.model.predict_on_batch(images)["scores"], plain["scores"], atol=1e-5)


NO_TENSORFLOW_SCRIPT = """
import sys


class BlockTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked in this test")


sys.meta_path.insert(0, BlockTensorFlow())
import numpy as np

from keras_centernet.callbacks.coco_eval import CocoEvalCallback
from keras_centernet.data.synthetic import make_synthetic_dataset
from keras_centernet.evaluation.coco import evaluate_model
from keras_centernet.inference import Detector
from keras_centernet.models.centernet import CenterNet
from keras_centernet.visualization import draw_detections

model = CenterNet(3, backbone="tiny", neck="deconv", max_detections=5, class_ids=[3, 17, 90])
image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), np.uint8)
result = Detector(model, image_size=64, score_threshold=0.0, batch_size=2, flip_test=True)(image)
drawn = draw_detections(image, result["boxes"], result["scores"], result["labels"], model.class_names)
images, boxes, labels = make_synthetic_dataset(4, image_size=64, max_boxes=8)
metrics = evaluate_model(model, images, boxes, labels, batch_size=2)
logs = {}
callback = CocoEvalCallback((images, boxes, labels))
callback.set_model(model)
callback.on_epoch_end(0, logs)
assert "tensorflow" not in sys.modules
print("OK", result["boxes"].shape, drawn.shape, round(metrics["AP"], 4) == round(logs["val_AP"], 4))
"""


@pytest.mark.slow
def test_inference_and_evaluation_run_without_tensorflow():
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(root))
    done = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK (5, 4) (48, 80, 3) True" in done.stdout
