"""heatmap_gaussian="od_api": the TF Object Detection API's heatmap Gaussian (float box size, whole map), checked
cell by cell against its formulas written out here, beside the paper's (ceiled size, (2r+1)^2 window)."""

import math

import numpy as np
import pytest

from keras_centernet.layers.gaussian import gaussian_kernels
from keras_centernet.layers.target_encoder import CenterNetLabelEncoder
from tests.helpers import as_numpy


def od_api_max_distance_for_overlap(height, width, min_iou=0.7):
    """object_detection/core/target_assigner.py max_distance_for_overlap and _smallest_positive_root, written out."""

    def smallest_positive_root(a, b, c):
        return (-b + math.sqrt(b**2 - 4 * a * c)) / 2.0  # (the OD API keeps CenterNet's formula, no division by a)

    return min(
        smallest_positive_root(1, -(height + width), width * height * ((1 - min_iou) / (1 + min_iou))),
        smallest_positive_root(4 * min_iou, (2 * min_iou) * (width + height), (min_iou - 1) * width * height),
        smallest_positive_root(4, -2 * (height + width), (1 - min_iou) * width * height),
    )


def od_api_heatmap_value(row, col, box, stride=4):
    """One cell of coordinates_to_heatmap for one box (xyxy input pixels): sigma from _compute_std_dev_from_box_size
    on the float box size in output cells, exp(-d^2 / (2 sigma^2)) from the floored centre, over the whole map."""
    x1, y1, x2, y2 = (v / stride for v in box)
    sigma = (2 * max(math.floor(od_api_max_distance_for_overlap(y2 - y1, x2 - x1)), 0.0) + 1) / 6.0
    cx, cy = math.floor((x1 + x2) / 2), math.floor((y1 + y2) / 2)
    return math.exp(-((col - cx) ** 2 + (row - cy) ** 2) / (2 * sigma * sigma))


# 20 x 49 px at stride 4: 5 x 12.25 cells. Float size: r = 1.97 -> 1 (sigma 1/2); ceiled 5 x 13: r = 2.007 -> 2.
BOX = (10.0, 6.0, 30.0, 55.0)  # centre (20, 30.5) px -> cell column 5, row 7


def _heatmaps(box, **kwargs):
    encoder = CenterNetLabelEncoder(1, **kwargs)
    boxes = np.array([[box, [-1.0] * 4]], np.float32)
    labels = np.array([[0, -1]], np.int32)
    return as_numpy(encoder(boxes, labels, image_shape=(64, 64))["heatmap"])[0, ..., 0]


def test_od_api_gaussian_matches_the_od_api_formula_cell_by_cell():
    assert od_api_max_distance_for_overlap(12.25, 5.0) == pytest.approx(1.9698, abs=1e-4)
    assert od_api_max_distance_for_overlap(13.0, 5.0) == pytest.approx(2.0068, abs=1e-4)  # the ceiled size
    heatmap = _heatmaps(BOX, heatmap_gaussian="od_api")
    cells = [(7, 5), (7, 6), (8, 5), (8, 6), (9, 5), (7, 8), (7, 2), (10, 5), (4, 5)]
    for row, col in cells:
        assert heatmap[row, col] == pytest.approx(od_api_heatmap_value(row, col, BOX), rel=1e-5), (row, col)
    assert heatmap[7, 5] == 1.0 and heatmap[7, 6] == pytest.approx(math.exp(-2.0), rel=1e-6)  # sigma = 1/2
    assert heatmap[7, 8] == pytest.approx(math.exp(-18.0), rel=1e-5)  # 3 cells off: outside the r = 1 window
    assert (heatmap >= 0).all() and (heatmap <= 1).all()


def test_paper_gaussian_uses_the_ceiled_size_and_its_window():
    heatmap = _heatmaps(BOX)
    sigma = (2 * 2 + 1) / 6.0  # r = floor(2.007) = 2 from the ceiled 5 x 13 cells
    assert heatmap[7, 6] == pytest.approx(math.exp(-1 / (2 * sigma**2)), rel=1e-6)
    assert heatmap[7, 7] == pytest.approx(math.exp(-4 / (2 * sigma**2)), rel=1e-6)
    assert heatmap[7, 8] == 0.0 and heatmap[10, 5] == 0.0  # outside the 5 x 5 window
    assert np.count_nonzero(heatmap) == 25
    np.testing.assert_array_equal(heatmap, _heatmaps(BOX, heatmap_gaussian="paper"))  # the default is the paper's


def test_untruncated_kernels_equal_the_truncated_ones_inside_the_window():
    truncated = as_numpy(gaussian_kernels(np.array([3.0]), np.array([4.0]), np.array([1.0]), 9, 8))[0]
    whole = as_numpy(gaussian_kernels(np.array([3.0]), np.array([4.0]), np.array([1.0]), 9, 8, truncate=False))[0]
    np.testing.assert_array_equal(whole[3:6, 2:5], truncated[3:6, 2:5])
    outside = np.ones_like(whole, bool)
    outside[3:6, 2:5] = False
    assert (truncated[outside] == 0).all() and (whole[outside] > 0).all()


def test_od_api_gaussian_keeps_the_encoder_invariants_and_config():
    boxes = np.array([[[4, 4, 24, 20], [30, 30, 60, 62], [-1, -1, -1, -1]]], np.float32)
    labels = np.array([[0, 1, -1]], np.int32)
    encoder = CenterNetLabelEncoder(2, heatmap_gaussian="od_api")
    out = {k: as_numpy(v) for k, v in encoder(boxes, labels, image_shape=(64, 64)).items()}
    paper = {k: as_numpy(v) for k, v in CenterNetLabelEncoder(2)(boxes, labels, image_shape=(64, 64)).items()}
    for key in ("size", "offset", "indices", "mask"):  # only the heatmap changes
        np.testing.assert_array_equal(out[key], paper[key])
    assert (out["heatmap"] == 1.0).sum() == 2 and out["heatmap"].max() == 1.0
    assert CenterNetLabelEncoder.from_config(encoder.get_config()).heatmap_gaussian == "od_api"
    with pytest.raises(ValueError, match="heatmap_gaussian must be one of .*got 'wide'"):
        CenterNetLabelEncoder(2, heatmap_gaussian="wide")
