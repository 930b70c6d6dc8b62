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


def _two_objects():
    """Two objects and one padded row: |1-2| + |3.5-3| + |5-5| + |7-5| = 3.5 summed L1 over the valid rows."""
    target = np.array([[[2.0, 3.0], [5.0, 5.0], [9.0, 9.0]]], np.float32)
    mask = np.array([[1.0, 1.0, 0.0]], np.float32)
    pred = np.array([[[1.0, 3.5], [5.0, 7.0], [0.0, 0.0]]], np.float32)
    return target, pred, mask


@pytest.mark.parametrize("normalization, expected", [("coordinates", 3.5 / 4), ("boxes", 3.5 / 2)])
def test_normalization_modes_by_hand(normalization, expected):
    # coordinates: 2 objects x 2 coordinates (the paper's code); boxes: 2 objects (the OD API)
    target, pred, mask = _two_objects()
    loss = MaskedL1Loss(normalization=normalization)(target, pred, sample_weight=mask)
    assert float(as_numpy(loss)) == pytest.approx(expected)


def test_boxes_normalization_is_exactly_twice_coordinates_over_a_batch():
    rng = np.random.default_rng(3)
    target, pred = rng.uniform(0, 20, (4, 6, 2)).astype(np.float32), rng.uniform(0, 20, (4, 6, 2)).astype(np.float32)
    mask = (rng.uniform(size=(4, 6)) > 0.4).astype(np.float32)
    coordinates = float(as_numpy(MaskedL1Loss("coordinates")(target, pred, sample_weight=mask)))
    boxes = float(as_numpy(MaskedL1Loss("boxes")(target, pred, sample_weight=mask)))
    summed = float(np.sum(np.abs(pred - target) * mask[..., None]))
    assert coordinates == pytest.approx(summed / (2 * mask.sum()), rel=1e-6)
    assert boxes == pytest.approx(2 * coordinates, rel=1e-6)


def test_normalization_round_trips_and_is_checked():
    loss = MaskedL1Loss(normalization="boxes", name="size_l1")
    clone = MaskedL1Loss.from_config(loss.get_config())
    assert (clone.normalization, clone.name) == ("boxes", "size_l1")
    assert MaskedL1Loss().normalization == "coordinates"
    with pytest.raises(ValueError, match="normalization must be one of"):
        MaskedL1Loss(normalization="objects")
