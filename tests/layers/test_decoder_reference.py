"""Decoding on a NON-square map against boxes computed by hand (CenterNet section 4).

Head outputs are built by hand on an 8 x 12 (rows x columns) grid, so a swapped row/column, width/height
or size/offset channel lands on a different cell or box. Expected boxes, in input pixels (stride 4):
x = (col + offset_x -+ w / 2) * 4, y = (row + offset_y -+ h / 2) * 4.
"""

import math

import numpy as np
import pytest

from keras_centernet.layers.decoder import CenterNetDecoder
from tests.helpers import as_numpy

H, W, C = 8, 12, 3


def _outputs():
    heatmap = np.full((1, H, W, C), -8.0, np.float32)
    size = np.zeros((1, H, W, 2), np.float32)
    offset = np.zeros((1, H, W, 2), np.float32)
    # Object A: class 2 at row 2, col 9; 3 x 2 cells (w x h), offset (0.25, 0.75).
    heatmap[0, 2, 9, 2] = 3.0
    size[0, 2, 9] = (3.0, 2.0)
    offset[0, 2, 9] = (0.25, 0.75)
    # Object B: class 0 at row 6, col 1; 2 x 4 cells, offset (0.5, 0.0).
    heatmap[0, 6, 1, 0] = 1.0
    size[0, 6, 1] = (2.0, 4.0)
    offset[0, 6, 1] = (0.5, 0.0)
    # Decoys where a row/column swap would read (row 9 does not exist; cell (1, 6) is B transposed).
    size[0, 1, 6] = (7.0, 7.0)
    offset[0, 1, 6] = (0.9, 0.9)
    return {"heatmap": heatmap, "size": size, "offset": offset}


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# By hand. A: cx = 9 + 0.25 = 9.25, cy = 2 + 0.75 = 2.75 -> x 9.25 -+ 1.5, y 2.75 -+ 1.0, times 4.
BOX_A = (31.0, 7.0, 43.0, 15.0)
# B: cx = 1.5, cy = 6.0 -> x 1.5 -+ 1.0, y 6.0 -+ 2.0, times 4: (2, 16, 10, 32).
BOX_B = (2.0, 16.0, 10.0, 32.0)


def test_non_square_map_decodes_to_the_hand_computed_boxes():
    decoded = as_numpy(CenterNetDecoder(max_detections=2, stride=4)(_outputs()))
    np.testing.assert_allclose(decoded["boxes"][0], [BOX_A, BOX_B], atol=1e-4)
    np.testing.assert_array_equal(decoded["labels"][0], [2, 0])
    np.testing.assert_allclose(decoded["scores"][0], [_sigmoid(3.0), _sigmoid(1.0)], rtol=1e-5)
    assert decoded["num_detections"][0] == 2


def test_clipping_uses_width_for_x_and_height_for_y():
    outputs = _outputs()
    # Object A grows to 8 x 6 cells: x 9.25 -+ 4 -> (5.25, 13.25) cells, clipped to the 12-column map at 48 px;
    # y 2.75 -+ 3 -> (-0.25, 5.75) cells, clipped at 0. Clipping x to the height (32 px) would give 32.
    outputs["size"][0, 2, 9] = (8.0, 6.0)
    decoded = as_numpy(CenterNetDecoder(max_detections=1, stride=4)(outputs))
    np.testing.assert_allclose(decoded["boxes"][0, 0], (21.0, 0.0, 48.0, 23.0), atol=1e-4)


@pytest.mark.parametrize("batch_index", [0, 1])
def test_batches_decode_independently_on_a_non_square_map(batch_index):
    first = _outputs()
    second = {key: np.zeros_like(value) for key, value in first.items()}
    second["heatmap"][:] = -8.0
    second["heatmap"][0, 7, 11, 1] = 2.0  # the last cell: row 7, col 11
    second["size"][0, 7, 11] = (1.0, 1.0)
    outputs = {key: np.concatenate([first[key], second[key]]) for key in first}
    decoded = as_numpy(CenterNetDecoder(max_detections=1, stride=4)(outputs))
    expected = BOX_A if batch_index == 0 else (42.0, 26.0, 46.0, 30.0)  # (11 -+ 0.5) * 4, (7 -+ 0.5) * 4
    np.testing.assert_allclose(decoded["boxes"][batch_index, 0], expected, atol=1e-4)
    assert decoded["labels"][batch_index, 0] == (2 if batch_index == 0 else 1)
