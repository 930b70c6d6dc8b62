import math

import numpy as np
import pytest

from keras_centernet.losses.focal import PenaltyReducedFocalLoss
from tests.helpers import as_numpy


def logit(p):
    return math.log(p / (1.0 - p))


def test_closed_form_on_hand_made_inputs():
    # One image, 1 x 3 cells, 1 class: a positive (p = 0.8), a penalty-reduced negative (y = 0.5, p = 0.3)
    # and a plain negative (y = 0, p = 0.1).
    y_true = np.array([1.0, 0.5, 0.0], np.float32).reshape(1, 1, 3, 1)
    y_pred = np.array([logit(0.8), logit(0.3), logit(0.1)], np.float32).reshape(1, 1, 3, 1)
    expected = -(
        (1 - 0.8) ** 2 * math.log(0.8)
        + (1 - 0.5) ** 4 * 0.3**2 * math.log(1 - 0.3)
        + (1 - 0.0) ** 4 * 0.1**2 * math.log(1 - 0.1)
    )  # divided by N = 1 positive
    assert float(as_numpy(PenaltyReducedFocalLoss()(y_true, y_pred))) == pytest.approx(expected, rel=1e-5)


def test_normalized_by_total_positives_over_the_batch_and_by_one_without_objects():
    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)
    y_true = np.zeros((2, 4, 4, 2), np.float32)
    empty = float(as_numpy(PenaltyReducedFocalLoss()(y_true, y_pred)))
    p = 1 / (1 + np.exp(-y_pred.astype(np.float64)))
    assert empty == pytest.approx(-np.sum(p**2 * np.log(1 - p)), rel=1e-5)  # N = max(0, 1)

    y_true[0, 1, 1, 0] = y_true[1, 2, 3, 1] = y_true[1, 0, 0, 0] = 1.0
    loss = float(as_numpy(PenaltyReducedFocalLoss()(y_true, y_pred)))
    pos = y_true == 1.0
    total = -np.sum(np.where(pos, (1 - p) ** 2 * np.log(p), p**2 * np.log(1 - p)))
    assert loss == pytest.approx(total / 3.0, rel=1e-5)


def test_finite_for_extreme_logits():
    y_true = np.array([1.0, 0.0, 1.0, 0.0], np.float32).reshape(1, 1, 4, 1)
    y_pred = np.array([-200.0, 200.0, 200.0, -200.0], np.float32).reshape(1, 1, 4, 1)
    value = float(as_numpy(PenaltyReducedFocalLoss()(y_true, y_pred)))
    assert math.isfinite(value) and value > 100  # both wrong cells are heavily penalized, not NaN/inf


def test_alpha_beta_config_round_trip():
    loss = PenaltyReducedFocalLoss(alpha=3.0, beta=2.0)
    clone = PenaltyReducedFocalLoss.from_config(loss.get_config())
    assert (clone.alpha, clone.beta) == (3.0, 2.0)


@pytest.mark.tensorflow
def test_equals_keras_cv_on_random_inputs():
    keras_cv = pytest.importorskip("keras_cv")
    rng = np.random.default_rng(3)
    y_true = rng.uniform(0.0, 0.98, size=(3, 8, 8, 4)).astype(np.float32)
    y_true[rng.uniform(size=y_true.shape) < 0.05] = 1.0
    y_pred = rng.uniform(-4.0, 4.0, size=y_true.shape).astype(np.float32)  # p within keras-cv's clip range
    reference = keras_cv.losses.BinaryPenaltyReducedFocalCrossEntropy(from_logits=True, reduction="sum")
    expected = float(as_numpy(reference(y_true, y_pred))) / max(np.sum(y_true == 1.0), 1)
    assert float(as_numpy(PenaltyReducedFocalLoss()(y_true, y_pred))) == pytest.approx(expected, rel=1e-4)
