import numpy as np
import pytest

from keras_centernet.layers.target_encoder import CenterNetLabelEncoder
from tests.helpers import as_numpy

IMAGE = (64, 64)  # input pixels; output grid 16 x 16 at stride 4


def encode(boxes, labels, num_classes=3, **kwargs):
    encoder = CenterNetLabelEncoder(num_classes, **kwargs)
    boxes = np.asarray(boxes, np.float32).reshape(1, -1, 4)
    labels = np.asarray(labels, np.int32).reshape(1, -1)
    return as_numpy(encoder(boxes, labels, image_shape=IMAGE))


def test_peak_is_one_at_each_integer_center_and_values_in_unit_range():
    targets = encode([[8, 8, 24, 20], [30, 34, 62, 60], [-1, -1, -1, -1]], [0, 2, -1])
    heatmap = targets["heatmap"][0]
    assert heatmap.shape == (16, 16, 3)
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    peaks = np.argwhere(heatmap == 1.0)
    # centers (16, 14) -> cell (4, 3); (46, 47) -> cell (11, 11); rows are (y, x, class)
    assert sorted(map(tuple, peaks)) == [(3, 4, 0), (11, 11, 2)]
    assert targets["indices"][0, :2].tolist() == [3 * 16 + 4, 11 * 16 + 11]
    np.testing.assert_allclose(targets["size"][0, :2], [[4.0, 3.0], [8.0, 6.5]])
    np.testing.assert_allclose(targets["offset"][0, :2], [[0.0, 0.5], [0.5, 0.75]])
    assert targets["mask"][0].tolist() == [1.0, 1.0, 0.0]
    assert heatmap[..., 1].max() == 0.0  # no object of class 1


def test_padding_invalid_labels_and_degenerate_boxes_contribute_nothing():
    targets = encode(
        [[-1, -1, -1, -1], [10, 10, 10, 30], [10, 30, 40, 20], [0, 0, 20, 20], [0, 0, 20, 20]],
        [-1, 0, 1, 3, -5],
    )
    assert targets["heatmap"].max() == 0.0
    assert targets["mask"].tolist() == [[0.0] * 5]
    assert np.all(targets["size"] == 0.0) and np.all(targets["offset"] == 0.0)
    assert np.all(targets["indices"] == 0)


def test_box_smaller_than_one_cell_gets_a_single_peak():
    targets = encode([[21.0, 21.0, 22.0, 22.5]], [1])
    heatmap = targets["heatmap"][0, ..., 1]
    assert heatmap[5, 5] == 1.0
    assert np.count_nonzero(heatmap) == 1  # radius 0
    np.testing.assert_allclose(targets["size"][0, 0], [0.25, 0.375])
    np.testing.assert_allclose(targets["offset"][0, 0], [0.375, 0.4375])


def test_boxes_on_and_beyond_the_border_are_clipped():
    targets = encode([[-20, -10, 8, 8], [56, 60, 90, 80]], [0, 0])
    # clipped to [0, 0, 8, 8] (center cell (1, 1)) and [56, 60, 64, 64] (center (60, 62) -> cell (15, 15))
    peaks = sorted(map(tuple, np.argwhere(targets["heatmap"][0] == 1.0)))
    assert peaks == [(1, 1, 0), (15, 15, 0)]
    np.testing.assert_allclose(targets["size"][0], [[2.0, 2.0], [2.0, 1.0]])
    assert np.all(targets["offset"] >= 0.0) and np.all(targets["offset"] < 1.0)


def test_overlapping_same_class_objects_take_the_elementwise_max():
    a, b = [4, 4, 36, 36], [12, 12, 44, 44]
    both = encode([a, b], [2, 2])["heatmap"][0, ..., 2]
    only_a = encode([a], [2])["heatmap"][0, ..., 2]
    only_b = encode([b], [2])["heatmap"][0, ..., 2]
    np.testing.assert_allclose(both, np.maximum(only_a, only_b), rtol=1e-6)
    assert np.count_nonzero(both == 1.0) == 2


def test_batch_images_are_independent_and_radius_variant_is_configurable():
    encoder = CenterNetLabelEncoder(2, radius_variant="corrected")
    boxes = np.array([[[0, 0, 32, 32], [-1, -1, -1, -1]], [[32, 32, 64, 64], [0, 32, 16, 64]]], np.float32)
    labels = np.array([[0, -1], [1, 0]], np.int32)
    heatmap = as_numpy(encoder(boxes, labels, image_shape=IMAGE))["heatmap"]
    assert sorted(map(tuple, np.argwhere(heatmap == 1.0))) == [(0, 4, 4, 0), (1, 12, 2, 0), (1, 12, 12, 1)]
    sharper = np.count_nonzero(heatmap[0, ..., 0])
    wider = np.count_nonzero(encode([[0, 0, 32, 32]], [0], num_classes=2)["heatmap"][0, ..., 0])
    assert sharper < wider


def test_config_round_trip_and_bad_variant():
    encoder = CenterNetLabelEncoder(7, stride=8, min_overlap=0.5, radius_variant="corrected")
    clone = CenterNetLabelEncoder.from_config(encoder.get_config())
    assert (clone.num_classes, clone.stride, clone.min_overlap, clone.radius_variant) == (7, 8, 0.5, "corrected")
    with pytest.raises(ValueError, match="radius_variant"):
        CenterNetLabelEncoder(3, radius_variant="nope")


def test_nan_and_infinite_boxes_count_as_padding():
    good = [[8, 8, 24, 20], [30, 34, 62, 60]]
    bad = [[np.nan, 8, 24, 20], [0, 0, np.inf, np.inf], [-np.inf, 4, 12, 12]]
    targets = encode(good + bad, [0, 2, 1, 1, 0])
    clean = encode(good, [0, 2])
    np.testing.assert_array_equal(targets["heatmap"], clean["heatmap"])  # [0, 0, inf, inf] is not the whole image
    assert targets["mask"].tolist() == [[1.0, 1.0, 0.0, 0.0, 0.0]]
    assert all(np.isfinite(value).all() for value in targets.values())
    assert np.all(targets["size"][0, 2:] == 0.0) and np.all(targets["offset"][0, 2:] == 0.0)
    assert targets["indices"][0, 2:].tolist() == [0, 0, 0]
