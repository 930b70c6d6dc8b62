import numpy as np
import pytest

from keras_centernet.losses.regression import MaskedL1Loss
from tests.helpers import as_numpy


def test_mean_l1_over_valid_objects_and_coordinates():
    target = np.array([[[2.0, 3.0], [5.0, 5.0], [9.0, 9.0]]], np.float32)
    mask = np.array([[1.0, 1.0, 0.0]], np.float32)
    pred = np.array([[[1.0, 3.5], [5.0, 7.0], [0.0, 0.0]]], np.float32)
    # |1-2| + |3.5-3| + 0 + |7-5| = 3.5 over 2 objects x 2 coordinates; the padded third row is ignored
    assert float(as_numpy(MaskedL1Loss()(target, pred, sample_weight=mask))) == pytest.approx(3.5 / 4)


def test_normalized_over_the_whole_batch():
    target = np.zeros((2, 2, 2), np.float32)
    mask = np.zeros((2, 2), np.float32)
    target[0, 0], mask[0, 0] = [1.0, 1.0], 1.0
    target[1, :], mask[1, :] = [[2.0, 2.0], [4.0, 4.0]], 1.0
    pred = np.zeros((2, 2, 2), np.float32)
    assert float(as_numpy(MaskedL1Loss()(target, pred, sample_weight=mask))) == pytest.approx((2 + 4 + 8) / 6)


def test_no_objects_gives_zero():
    target = np.zeros((2, 4, 2), np.float32)
    mask = np.zeros((2, 4), np.float32)
    pred = np.full((2, 4, 2), 7.0, np.float32)
    assert float(as_numpy(MaskedL1Loss()(target, pred, sample_weight=mask))) == 0.0
