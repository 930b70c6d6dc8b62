"""CenterNet(bounding_box_format=F): fit targets and predict boxes in F, converted at the model boundary.

The reference conversion here is written out in numpy (not Keras's converter the model uses). Images are 64x96
(height != width) so a relative format that swapped height and width would fail.
"""

import numpy as np
import pytest

from keras_centernet import CenterNet
from keras_centernet.models.centernet import BOUNDING_BOX_FORMATS
from keras_centernet.validation import InputError
from tests.helpers import as_numpy

HEIGHT, WIDTH = 64, 96


def xyxy_to(boxes, fmt, height=HEIGHT, width=WIDTH):
    """Reference numpy conversion of xyxy pixel boxes [..., 4] to `fmt` (see `BOUNDING_BOX_FORMATS`)."""
    x1, y1, x2, y2 = np.moveaxis(np.asarray(boxes, np.float64), -1, 0)
    base = fmt.removeprefix("rel_")
    if base in ("xywh", "center_xywh", "center_yxhw"):
        w, h = x2 - x1, y2 - y1
        if base.startswith("center_"):
            x1, y1 = (x1 + x2) / 2, (y1 + y2) / 2
        x2, y2 = w, h
    if fmt.startswith("rel_"):
        x1, x2, y1, y2 = x1 / width, x2 / width, y1 / height, y2 / height
    ordered = [y1, x1, y2, x2] if base in ("yxyx", "center_yxhw") else [x1, y1, x2, y2]
    return np.stack(ordered, axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def batch():
    """4 images [4, 64, 96, 3] (synthetic 64x64 content, zero-padded on the right) and xyxy targets."""
    from keras_centernet.data.synthetic import make_synthetic_dataset

    images, boxes, labels = make_synthetic_dataset(4, image_size=64, max_boxes=6, seed=5)
    padded = np.zeros((4, HEIGHT, WIDTH, 3), np.float32)
    padded[:, :, :64] = images
    boxes[labels < 0] = -1.0
    return padded, boxes, labels


@pytest.fixture(scope="module")
def xyxy_model():
    import keras

    keras.utils.set_random_seed(0)
    return CenterNet(3, backbone="tiny", neck="deconv", head_channels=8, max_detections=12)


def _in_format(model, fmt, **changes):
    """A copy of `model` (same weights) whose bounding_box_format is `fmt`."""
    clone = CenterNet.from_config({**model.get_config(), "bounding_box_format": fmt, **changes})
    clone.set_weights(model.get_weights())
    return clone


def test_reference_conversion_is_right_on_one_box():
    box = np.array([10.0, 20.0, 40.0, 60.0])  # x1, y1, x2, y2 on a 64 high, 96 wide image
    assert xyxy_to(box, "xywh").tolist() == [10, 20, 30, 40]
    assert xyxy_to(box, "center_yxhw").tolist() == [40, 25, 40, 30]
    np.testing.assert_allclose(xyxy_to(box, "rel_center_xywh"), [25 / 96, 40 / 64, 30 / 96, 40 / 64], rtol=1e-6)
    np.testing.assert_allclose(xyxy_to(box, "rel_yxyx"), [20 / 64, 10 / 96, 60 / 64, 40 / 96], rtol=1e-6)


@pytest.mark.parametrize("fmt", BOUNDING_BOX_FORMATS)
def test_fit_targets_in_any_format_give_the_xyxy_loss(xyxy_model, batch, fmt):
    images, boxes, labels = batch
    y_pred = xyxy_model(images)
    expected = float(as_numpy(xyxy_model.compute_loss(images, {"boxes": boxes, "labels": labels}, y_pred)))
    model = _in_format(xyxy_model, fmt)
    converted = np.where(labels[..., None] >= 0, xyxy_to(boxes, fmt), -1.0)
    got = float(as_numpy(model.compute_loss(images, {"boxes": converted, "labels": labels}, y_pred)))
    assert np.isfinite(expected) and expected > 0
    assert got == pytest.approx(expected, rel=1e-5)
    if fmt != "xyxy":  # the format matters: xyxy boxes read as F give another loss
        wrong = float(as_numpy(model.compute_loss(images, {"boxes": boxes, "labels": labels}, y_pred)))
        assert abs(wrong - expected) > 1e-3 * expected


def test_fit_in_a_relative_format_trains_like_xyxy(xyxy_model, batch):
    """The same through `evaluate` (Keras's compiled step), for the format that needs the image height and width."""
    images, boxes, labels = batch
    relative = np.where(labels[..., None] >= 0, xyxy_to(boxes, "rel_xywh"), -1.0)
    results = []
    for fmt, targets in (("xyxy", boxes), ("rel_xywh", relative)):
        model = _in_format(xyxy_model, fmt)
        model.compile("adam")
        results.append(model.evaluate(images, {"boxes": targets, "labels": labels}, batch_size=4, verbose=0))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)


@pytest.fixture(scope="module")
def xyxy_predictions(xyxy_model, batch):
    """(score threshold, predictions of the xyxy model with it): the threshold, a median score, keeps some
    detections and pads the rest."""
    threshold = float(np.median(xyxy_model.predict(batch[0], verbose=0)["scores"]))
    return threshold, _in_format(xyxy_model, "xyxy", score_threshold=threshold).predict(batch[0], verbose=0)


@pytest.mark.parametrize("fmt", BOUNDING_BOX_FORMATS)
def test_predict_returns_the_xyxy_detections_converted(xyxy_model, batch, xyxy_predictions, fmt):
    threshold, reference = xyxy_predictions
    got = _in_format(xyxy_model, fmt, score_threshold=threshold).predict(batch[0], verbose=0)
    kept = reference["labels"] >= 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_array_equal(got["labels"], reference["labels"])
    np.testing.assert_allclose(got["boxes"][kept], xyxy_to(reference["boxes"][kept], fmt), rtol=1e-5, atol=1e-4)
    assert np.all(got["boxes"][~kept] == -1.0)  # padded rows stay -1 in every format


def test_decoded_boxes_by_hand_in_a_relative_format():
    model = CenterNet(2, backbone="tiny", neck="deconv", head_channels=8, bounding_box_format="rel_center_xywh",
                      score_threshold=0.5, max_detections=3)  # fmt: skip
    heatmap = np.full((1, HEIGHT // 4, WIDTH // 4, 2), -10.0, np.float32)
    heatmap[0, 5, 7, 1] = 5.0  # one peak: cell (x 7, y 5), class 1
    size = np.zeros((1, HEIGHT // 4, WIDTH // 4, 2), np.float32)
    size[0, 5, 7] = [4.0, 2.0]  # w, h in cells
    offset = np.full((1, HEIGHT // 4, WIDTH // 4, 2), 0.5, np.float32)
    detections = as_numpy(model.decode({"heatmap": heatmap, "size": size, "offset": offset}))
    # center (7.5, 5.5) cells = (30, 22) px, 16 x 8 px, relative to 96 wide and 64 high
    np.testing.assert_allclose(detections["boxes"][0, 0], [30 / 96, 22 / 64, 16 / 96, 8 / 64], rtol=1e-6)
    assert detections["labels"][0].tolist() == [1, -1, -1]
    assert detections["boxes"][0, 1:].tolist() == [[-1.0] * 4] * 2


def test_detector_maps_any_format_to_original_pixels(xyxy_model):
    from keras_centernet.inference import Detector

    image = np.random.default_rng(2).uniform(0, 255, (50, 70, 3)).astype(np.uint8)
    expected = Detector(xyxy_model, image_size=64, score_threshold=0.0, batch_size=1)(image)
    got = Detector(_in_format(xyxy_model, "rel_yxyx"), image_size=64, score_threshold=0.0, batch_size=1)(image)
    assert len(got["boxes"]) == len(expected["boxes"]) > 0
    np.testing.assert_allclose(got["boxes"], expected["boxes"], atol=1e-3)


def test_format_is_in_the_config_and_checked(xyxy_model):
    config = _in_format(xyxy_model, "xywh").get_config()
    assert config["bounding_box_format"] == "xywh"
    assert CenterNet.from_config(config).bounding_box_format == "xywh"
    old = {key: value for key, value in xyxy_model.get_config().items() if key != "bounding_box_format"}
    assert CenterNet.from_config(old).bounding_box_format == "xyxy"  # configs saved before the option
    with pytest.raises(InputError, match="bounding_box_format must be one of .*; got 'xyhw'"):
        CenterNet(2, backbone="tiny", bounding_box_format="xyhw")


def test_coco_evaluation_reads_boxes_in_any_format(xyxy_model, batch):
    """evaluate_model (the callback's path) converts predict's boxes back to xyxy: a rel_center_xywh copy scores
    exactly what the xyxy model does on the xyxy model's own top-3 boxes as ground truth."""
    from keras_centernet.evaluation.coco import evaluate_model

    square = batch[0][:, :, :64]
    top = xyxy_model.predict(square, verbose=0)
    truth_boxes, truth_labels = np.asarray(top["boxes"])[:, :3], np.asarray(top["labels"])[:, :3]
    relative = _in_format(xyxy_model, "rel_center_xywh")
    metrics = [evaluate_model(m, square, truth_boxes, truth_labels, batch_size=4) for m in (xyxy_model, relative)]
    assert metrics[0]["AP50"] > 0.5 and metrics[1]["AP"] == pytest.approx(metrics[0]["AP"], abs=1e-9)


@pytest.mark.tensorflow
def test_export_serves_boxes_in_original_pixels_in_any_format(xyxy_model, batch):
    """The SavedModel's serving function converts predict's boxes back to xyxy before the letterbox inverse."""
    from keras_centernet.export import serving_function
    from keras_centernet.preprocessing import Letterbox

    image = batch[0][:1, :, :64].astype(np.uint8)
    relative = _in_format(xyxy_model, "rel_center_xywh")
    served = [as_numpy(serving_function(m, Letterbox.for_model(m, 64))(image)) for m in (xyxy_model, relative)]
    kept = served[0]["labels"] >= 0
    assert kept.any()
    np.testing.assert_allclose(served[1]["boxes"][kept], served[0]["boxes"][kept], atol=1e-3)
