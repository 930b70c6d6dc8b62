import math

import numpy as np
import pytest

from keras_centernet.layers.gaussian import gaussian_kernels, gaussian_radius
from tests.helpers import as_numpy, box_iou


def reference_cornernet_radius(h, w, o=0.7):
    """The CornerNet/CenterNet reference code's formula, written out in plain python."""
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - o) * w * h
    r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
    b3, c3 = -2 * o * (h + w), (o - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 16 * o * c3)) / 2
    return min(r1, r2, r3)


@pytest.mark.parametrize("h, w", [(10.0, 10.0), (4.0, 30.0), (1.0, 1.0), (57.0, 23.0)])
def test_cornernet_radius_matches_reference_formula(h, w):
    got = float(as_numpy(gaussian_radius(np.float32(h), np.float32(w), 0.7, "cornernet")))
    assert got == pytest.approx(reference_cornernet_radius(h, w), rel=1e-5)


@pytest.mark.parametrize("h, w", [(10.0, 10.0), (4.0, 30.0), (57.0, 23.0)])
def test_corrected_radius_is_the_iou_limit(h, w):
    r = float(as_numpy(gaussian_radius(np.float32(h), np.float32(w), 0.7, "corrected")))
    box = (0.0, 0.0, w, h)
    # Each of the three cases the radius bounds: shifting corners by r keeps IoU >= 0.7, and one case hits it.
    cases = [(-r, -r, w + r, h + r), (r, r, w - r, h - r), (r, r, w + r, h + r)]
    ious = [box_iou(box, shifted) for shifted in cases]
    assert min(ious) == pytest.approx(0.7, abs=1e-4)
    assert all(value >= 0.7 - 1e-4 for value in ious)


def test_corrected_radius_is_smaller_than_cornernet():
    h, w = np.float32(20.0), np.float32(12.0)
    assert float(as_numpy(gaussian_radius(h, w, variant="corrected"))) < float(
        as_numpy(gaussian_radius(h, w, variant="cornernet"))
    )


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="cornernet"):
        gaussian_radius(1.0, 1.0, variant="paper")


def test_kernel_peak_sigma_and_window():
    kernel = as_numpy(gaussian_kernels(np.array([5.0]), np.array([4.0]), np.array([2.0]), 9, 11))[0]
    assert kernel.shape == (9, 11)
    assert kernel[4, 5] == 1.0
    sigma = (2 * 2 + 1) / 6
    assert kernel[4, 6] == pytest.approx(math.exp(-1 / (2 * sigma**2)), rel=1e-6)
    assert kernel[5, 7] == pytest.approx(math.exp(-5 / (2 * sigma**2)), rel=1e-6)
    assert kernel[4, 8] == 0.0 and kernel[7, 5] == 0.0  # outside the radius-2 window
    assert np.count_nonzero(kernel) == 25


def test_zero_radius_kernel_is_a_single_cell():
    kernel = as_numpy(gaussian_kernels(np.array([0.0]), np.array([0.0]), np.array([0.0]), 4, 4))[0]
    assert kernel[0, 0] == 1.0 and np.count_nonzero(kernel) == 1
