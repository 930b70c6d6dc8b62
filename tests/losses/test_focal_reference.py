"""Penalty-reduced focal loss against closed-form values from the paper's formula (CenterNet eq. 1).

    L = -1/N sum { (1 - p)^alpha log p            if y = 1
                 { (1 - y)^beta p^alpha log(1 - p) otherwise,   N = number of y == 1 cells in the batch

The reference is plain python `math` on each cell of a tiny hand-made heatmap, for the default exponents
(2, 4) and for others (3, 2), (1, 3), (2.5, 1): the loss has a fast path for 2 and 4, so exponents that
skip it must still be used.
"""

import math

import numpy as np
import pytest

from keras_centernet.losses.focal import PenaltyReducedFocalLoss
from tests.helpers import as_numpy

# Two images, 2 x 3 cells, 2 classes; three positives in the batch (N = 3).
Y_TRUE = np.array(
    [
        [[[1.0, 0.0], [0.5, 0.25]], [[0.0, 0.8], [1.0, 0.0]], [[0.9, 0.0], [0.0, 0.1]]],
        [[[0.0, 0.0], [0.0, 1.0]], [[0.6, 0.0], [0.0, 0.3]], [[0.0, 0.0], [0.2, 0.0]]],
    ],
    np.float32,
).reshape(2, 3, 2, 2)
LOGITS = np.array(
    [
        [[[1.5, -2.0], [0.3, -1.0]], [[-3.0, 0.7], [0.2, -0.5]], [[1.0, -4.0], [-2.5, 0.4]]],
        [[[-1.2, -0.3], [0.8, 2.0]], [[0.6, -1.7], [-0.9, 0.1]], [[-2.2, 1.1], [0.5, -3.3]]],
    ],
    np.float32,
).reshape(2, 3, 2, 2)


def reference_focal(y_true, logits, alpha, beta):
    total, positives = 0.0, 0
    for y, x in zip(y_true.ravel().tolist(), logits.ravel().tolist()):
        p = 1.0 / (1.0 + math.exp(-x))
        if y == 1.0:
            positives += 1
            total += (1 - p) ** alpha * math.log(p)
        else:
            total += (1 - y) ** beta * p**alpha * math.log(1 - p)
    return -total / max(positives, 1)


def test_reference_counts_three_positives():
    assert int((Y_TRUE == 1.0).sum()) == 3


@pytest.mark.parametrize("alpha, beta", [(2.0, 4.0), (3.0, 2.0), (1.0, 3.0), (2.5, 1.0), (4.0, 2.0)])
def test_focal_loss_equals_the_closed_form(alpha, beta):
    loss = PenaltyReducedFocalLoss(alpha=alpha, beta=beta)
    got = float(as_numpy(loss(Y_TRUE, LOGITS)))
    assert got == pytest.approx(reference_focal(Y_TRUE, LOGITS, alpha, beta), rel=1e-5)


def test_exponents_change_the_value():
    default = float(as_numpy(PenaltyReducedFocalLoss()(Y_TRUE, LOGITS)))
    other = float(as_numpy(PenaltyReducedFocalLoss(alpha=3.0, beta=2.0)(Y_TRUE, LOGITS)))
    assert default == pytest.approx(reference_focal(Y_TRUE, LOGITS, 2.0, 4.0), rel=1e-5)
    assert other == pytest.approx(reference_focal(Y_TRUE, LOGITS, 3.0, 2.0), rel=1e-5)
    assert abs(default - other) > 0.05 * abs(default)


def test_single_cell_values_by_hand():
    # One positive cell with p = sigmoid(0) = 0.5 and one negative (y = 0.5) with p = 0.5, alpha 3, beta 2:
    # -( 0.5^3 log 0.5 + 0.5^2 * 0.5^3 log 0.5 ) / 1 = -(0.125 + 0.03125) log 0.5 = 0.15625 log 2.
    y_true = np.array([[[[1.0], [0.5]]]], np.float32)
    logits = np.zeros((1, 1, 2, 1), np.float32)
    got = float(as_numpy(PenaltyReducedFocalLoss(alpha=3.0, beta=2.0)(y_true, logits)))
    assert got == pytest.approx(0.15625 * math.log(2.0), rel=1e-6)


def test_config_round_trip_keeps_the_exponents():
    loss = PenaltyReducedFocalLoss.from_config(PenaltyReducedFocalLoss(alpha=3.0, beta=2.0).get_config())
    got = float(as_numpy(loss(Y_TRUE, LOGITS)))
    assert got == pytest.approx(reference_focal(Y_TRUE, LOGITS, 3.0, 2.0), rel=1e-5)
