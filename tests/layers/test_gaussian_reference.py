"""Heatmap targets OFF the peak against an independent numpy reference (CornerNet radius + truncated Gaussian).

The reference below is written from the CornerNet/CenterNet papers and the reference code
(`gaussian_radius` / `draw_umich_gaussian` of xingyizhou/CenterNet), not from this package: for a box of
h x w OUTPUT cells (input pixels / stride 4) the radius is the smallest root of three quadratics, floored;
the kernel is exp(-(dx^2 + dy^2) / (2 sigma^2)), sigma = diameter / 6 = (2r + 1) / 6, cut to the
(2r+1) x (2r+1) window around the integer center cell. Values off the center are what a halved radius,
an ignored `min_overlap` or a radius measured in input pixels change (the peak stays 1 in all of them).
"""

import math

import numpy as np
import pytest

from keras_centernet.layers.target_encoder import CenterNetLabelEncoder
from tests.helpers import as_numpy

STRIDE = 4
IMAGE = 128  # 32 x 32 output cells
# 64 x 48 input pixels = 16 x 12 output cells, center (52, 48) px = cell (x 13, y 12).
BOX = (20.0, 24.0, 84.0, 72.0)
CENTER_X, CENTER_Y = 13, 12
BOX_W, BOX_H = 16.0, 12.0


def cornernet_radius(h, w, o):
    """CornerNet reference code: every case's root taken as (b + sqrt(b^2 - 4ac)) / 2 (its known quirk)."""
    a1, b1, c1 = 1.0, h + w, w * h * (1 - o) / (1 + o)
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - o) * w * h
    a3, b3, c3 = 4.0 * o, -2 * o * (h + w), (o - 1) * w * h
    roots = [(b + math.sqrt(b * b - 4 * a * c)) / 2 for a, b, c in ((a1, b1, c1), (a2, b2, c2), (a3, b3, c3))]
    return min(roots)


def corrected_radius(h, w, o):
    """The proper quadratic roots (mmdetection / TTFNet): the smaller root for cases 1-2, the positive for 3."""
    a1, b1, c1 = 1.0, h + w, w * h * (1 - o) / (1 + o)
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - o) * w * h
    a3, b3, c3 = 4.0 * o, -2 * o * (h + w), (o - 1) * w * h
    r1 = (b1 - math.sqrt(b1 * b1 - 4 * a1 * c1)) / (2 * a1)
    r2 = (b2 - math.sqrt(b2 * b2 - 4 * a2 * c2)) / (2 * a2)
    r3 = (-b3 + math.sqrt(b3 * b3 - 4 * a3 * c3)) / (2 * a3)
    return min(r1, r2, r3)


def reference_heatmap(cx, cy, radius, height, width):
    """draw_umich_gaussian on an empty map, in plain numpy loops."""
    sigma = (2 * radius + 1) / 6.0
    out = np.zeros((height, width), np.float64)
    for y in range(height):
        for x in range(width):
            dx, dy = x - cx, y - cy
            if abs(dx) <= radius and abs(dy) <= radius:
                out[y, x] = math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
    return out


# Hand-checked radii for a 12 x 16-cell box (floored): the two overlaps and two variants all differ, every one
# differs from its half and from the radius of the 48 x 64-pixel box (15 / 27 for cornernet).
EXPECTED_RADII = {("cornernet", 0.7): 3, ("cornernet", 0.3): 6, ("corrected", 0.7): 1, ("corrected", 0.3): 3}


@pytest.mark.parametrize("variant, min_overlap", sorted(EXPECTED_RADII))
def test_reference_radius_is_the_hand_checked_one(variant, min_overlap):
    formula = cornernet_radius if variant == "cornernet" else corrected_radius
    assert math.floor(formula(BOX_H, BOX_W, min_overlap)) == EXPECTED_RADII[(variant, min_overlap)]


def _encode(encoder):
    boxes = np.array([[BOX, (-1.0, -1.0, -1.0, -1.0)]], np.float32)
    labels = np.array([[1, -1]], np.int32)
    return as_numpy(encoder(boxes, labels, image_shape=(IMAGE, IMAGE)))["heatmap"][0]


@pytest.mark.parametrize("variant, min_overlap", sorted(EXPECTED_RADII))
def test_encoder_heatmap_off_the_peak_matches_the_reference(variant, min_overlap):
    heatmap = _encode(CenterNetLabelEncoder(3, stride=STRIDE, min_overlap=min_overlap, radius_variant=variant))
    radius = EXPECTED_RADII[(variant, min_overlap)]
    expected = reference_heatmap(CENTER_X, CENTER_Y, radius, IMAGE // STRIDE, IMAGE // STRIDE)
    assert heatmap.shape == (32, 32, 3)
    np.testing.assert_allclose(heatmap[..., 1], expected, rtol=1e-5, atol=1e-7)
    assert not heatmap[..., 0].any() and not heatmap[..., 2].any()
    # Spelled out at two cells: one step right of the peak and on the window's corner.
    sigma = (2 * radius + 1) / 6.0
    assert heatmap[CENTER_Y, CENTER_X + 1, 1] == pytest.approx(math.exp(-1 / (2 * sigma**2)), rel=1e-5)
    assert heatmap[CENTER_Y + radius, CENTER_X - radius, 1] == pytest.approx(
        math.exp(-2 * radius**2 / (2 * sigma**2)), rel=1e-5
    )
    assert heatmap[CENTER_Y, CENTER_X + radius + 1, 1] == 0.0  # just outside the window


def test_min_overlap_changes_the_target():
    low = _encode(CenterNetLabelEncoder(3, min_overlap=0.3))
    high = _encode(CenterNetLabelEncoder(3, min_overlap=0.7))
    assert np.count_nonzero(low) == 13 * 13 and np.count_nonzero(high) == 7 * 7


@pytest.mark.parametrize("variant, min_overlap", [("cornernet", 0.3), ("corrected", 0.3), ("cornernet", 0.7)])
def test_model_passes_min_overlap_and_variant_to_its_encoder(tiny_model, variant, min_overlap):
    model = tiny_model(2, min_overlap=min_overlap, radius_variant=variant)
    y = {"boxes": np.array([[BOX]], np.float32), "labels": np.array([[0]], np.int32)}
    heatmap = as_numpy(model.encode_targets(y, (IMAGE // STRIDE, IMAGE // STRIDE)))["heatmap"][0, ..., 0]
    radius = EXPECTED_RADII[(variant, min_overlap)]
    expected = reference_heatmap(CENTER_X, CENTER_Y, radius, IMAGE // STRIDE, IMAGE // STRIDE)
    np.testing.assert_allclose(heatmap, expected, rtol=1e-5, atol=1e-7)
