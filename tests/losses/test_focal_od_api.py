"""The OD API's options of the focal loss: cell weights (the padding mask) and the number-of-boxes normaliser,
against values written out by hand."""

import math

import numpy as np
import pytest

from keras_centernet.losses.focal import PenaltyReducedFocalLoss
from tests.helpers import as_numpy


def logit(p):
    return math.log(p / (1.0 - p))


def _value(loss, *args, **kwargs):
    return float(as_numpy(loss(*args, **kwargs)))


# One image, 2 x 3 cells, 1 class. Row 0: a peak (p = 0.8), a penalty-reduced negative (y = 0.5, p = 0.3), a
# negative (p = 0.1); row 1: three negatives (p = 0.2, 0.4, 0.6). The last column is letterbox padding.
Y_TRUE = np.array([[1.0, 0.5, 0.0], [0.0, 0.0, 0.0]], np.float32).reshape(1, 2, 3, 1)
PROBS = [[0.8, 0.3, 0.1], [0.2, 0.4, 0.6]]
LOGITS = np.array([[logit(p) for p in row] for row in PROBS], np.float32).reshape(1, 2, 3, 1)
REAL = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], np.float32).reshape(1, 2, 3)


def _negative(y, p):
    return -((1 - y) ** 4) * p**2 * math.log(1 - p)


def test_the_mask_removes_exactly_the_padding_cells_terms():
    peak = -((1 - 0.8) ** 2) * math.log(0.8)
    real = peak + _negative(0.5, 0.3) + _negative(0.0, 0.2) + _negative(0.0, 0.4)
    padding = _negative(0.0, 0.1) + _negative(0.0, 0.6)  # column 2: (0, 2) and (1, 2)
    loss = PenaltyReducedFocalLoss()
    unmasked = _value(loss, Y_TRUE, LOGITS)
    masked = _value(loss, Y_TRUE, LOGITS, sample_weight=REAL)
    assert unmasked == pytest.approx(real + padding, rel=1e-5)  # N = 1 peak
    assert masked == pytest.approx(real, rel=1e-5)
    assert unmasked - masked == pytest.approx(padding, rel=1e-4)
    ones = np.ones_like(REAL)  # a mask of ones changes nothing
    assert _value(loss, Y_TRUE, LOGITS, sample_weight=ones) == pytest.approx(unmasked, rel=1e-6)


def test_boxes_normalisation_divides_by_the_boxes_not_the_peaks():
    # Two images; image 0 has the peak above and 3 boxes whose centres share its cell (one peak), image 1 nothing.
    y_true = np.concatenate([Y_TRUE, np.zeros_like(Y_TRUE)])
    logits = np.concatenate([LOGITS, LOGITS])
    per_image_sum = [
        -((1 - 0.8) ** 2) * math.log(0.8) + _negative(0.5, 0.3) + sum(_negative(0.0, p) for p in (0.1, 0.2, 0.4, 0.6)),
        sum(_negative(0.0, p) for row in PROBS for p in row),
    ]
    peaks = _value(PenaltyReducedFocalLoss(), y_true, logits)
    boxes = _value(PenaltyReducedFocalLoss(normalization="boxes"), y_true, logits, num_boxes=np.array([3.0, 0.0]))
    assert peaks == pytest.approx(sum(per_image_sum) / 1.0, rel=1e-5)  # 1 peak cell in the batch
    assert boxes == pytest.approx(sum(per_image_sum) / 3.0, rel=1e-5)  # 3 boxes in the batch
    none = _value(PenaltyReducedFocalLoss(normalization="boxes"), y_true, logits, num_boxes=np.zeros(2))
    assert none == pytest.approx(sum(per_image_sum), rel=1e-5)  # no boxes: divided by 1, finite
    both = _value(PenaltyReducedFocalLoss(normalization="boxes"), y_true, logits,
                  sample_weight=np.concatenate([REAL, REAL]), num_boxes=np.array([3.0, 0.0]))  # fmt: skip
    padding = _negative(0.0, 0.1) + _negative(0.0, 0.6)
    assert both == pytest.approx((sum(per_image_sum) - 2 * padding) / 3.0, rel=1e-5)


def test_peaks_normalisation_ignores_num_boxes_and_boxes_needs_them():
    with_counts = _value(PenaltyReducedFocalLoss(), Y_TRUE, LOGITS, num_boxes=np.array([5.0]))
    assert with_counts == pytest.approx(_value(PenaltyReducedFocalLoss(), Y_TRUE, LOGITS), rel=1e-6)
    with pytest.raises(ValueError, match="needs num_boxes"):
        PenaltyReducedFocalLoss(normalization="boxes")(Y_TRUE, LOGITS)
    with pytest.raises(ValueError, match="normalization must be one of .*got 'cells'"):
        PenaltyReducedFocalLoss(normalization="cells")


def test_normalization_round_trips_through_the_config():
    loss = PenaltyReducedFocalLoss(alpha=3.0, normalization="boxes")
    clone = PenaltyReducedFocalLoss.from_config(loss.get_config())
    assert (clone.alpha, clone.beta, clone.normalization) == (3.0, 4.0, "boxes")
    assert PenaltyReducedFocalLoss().get_config()["normalization"] == "peaks"
