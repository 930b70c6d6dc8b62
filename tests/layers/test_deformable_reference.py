"""`DeformableConv2D` against an independent numpy DCNv2, written from the paper's formula with explicit loops.

DCNv2 (Zhu et al. 2019, arXiv 1811.11168, eq. 3): y(p0) = sum_k w_k * x(p0 + p_k + dp_k) * m_k, where p_k runs over
the kernel grid ({-1, 0, 1}^2 for 3x3, centred on p0 as 'same' padding does) and x(p) is bilinear interpolation
x(p) = sum_q max(0, 1 - |q_y - p_y|) * max(0, 1 - |q_x - p_x|) * x(q) over the integer pixels q INSIDE the image
(so pixels outside count as 0). The offsets (dy, dx per tap) and the mask logits come from a conv on the input; here
that conv's weights are set to random values so the offsets reach several pixels, many samples land fully or partly
outside the image, and the masks are spread over (0, 1).
"""

import keras
import numpy as np
import pytest

from keras_centernet.layers import DeformableConv2D


def _bilinear(image, py, px):
    """image [H, W, C] at the real position (py, px), the sum over every integer pixel inside the image."""
    height, width, _ = image.shape
    value = np.zeros(image.shape[-1], dtype="float64")
    for qy in range(height):
        for qx in range(width):
            weight = max(0.0, 1.0 - abs(qy - py)) * max(0.0, 1.0 - abs(qx - px))
            if weight:
                value += weight * image[qy, qx]
    return value


def _conv_same(x, kernel, bias):
    """A plain 'same' stride-1 convolution with loops: x [B, H, W, C], kernel [kh, kw, C, F]."""
    batch, height, width, _ = x.shape
    kh, kw, _, filters = kernel.shape
    padded = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    out = np.zeros((batch, height, width, filters))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i : i + height, j : j + width] @ kernel[i, j]
    return out + bias


def reference_dcn_v2(x, kernel, bias, offset_kernel, offset_bias):
    """x [B, H, W, C]; kernel [kh, kw, C, F]; the offset/mask conv's kernel [kh, kw, C, 3K] and bias [3K]."""
    batch, height, width, _ = x.shape
    kh, kw, _, filters = kernel.shape
    taps = kh * kw
    predicted = _conv_same(x, offset_kernel, offset_bias)  # [B, H, W, 3K]: dy0, dx0, dy1, dx1, ..., mask logits
    out = np.zeros((batch, height, width, filters))
    for b in range(batch):
        for y in range(height):
            for xx in range(width):
                for k in range(taps):
                    i, j = divmod(k, kw)
                    dy, dx = predicted[b, y, xx, 2 * k], predicted[b, y, xx, 2 * k + 1]
                    mask = 1.0 / (1.0 + np.exp(-predicted[b, y, xx, 2 * taps + k]))
                    py = y + (i - (kh - 1) // 2) + dy
                    px = xx + (j - (kw - 1) // 2) + dx
                    out[b, y, xx] += mask * (_bilinear(x[b], py, px) @ kernel[i, j])
                out[b, y, xx] += bias
    return out, predicted


@pytest.mark.parametrize("kernel_size", [3, 1])
def test_matches_numpy_dcn_v2_with_random_offsets_and_masks(kernel_size):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    layer = DeformableConv2D(4, kernel_size, bias_initializer="random_normal")
    layer.build(x.shape)
    taps = kernel_size * kernel_size
    offset_kernel = rng.normal(scale=0.8, size=(kernel_size, kernel_size, 3, 3 * taps)).astype("float32")
    offset_bias = rng.normal(scale=1.5, size=(3 * taps,)).astype("float32")
    layer.offset_mask.set_weights([offset_kernel, offset_bias])
    expected, predicted = reference_dcn_v2(
        x.astype("float64"), *(np.asarray(w, "float64") for w in layer.get_weights()[:2]),
        offset_kernel.astype("float64"), offset_bias.astype("float64"),
    )  # fmt: skip
    # the random offsets really test the border: samples fully outside and partly outside the image
    rows = np.arange(5).reshape(1, -1, 1, 1) + np.repeat(np.arange(kernel_size) - (kernel_size - 1) // 2, kernel_size)
    cols = np.arange(6).reshape(1, 1, -1, 1) + np.tile(np.arange(kernel_size) - (kernel_size - 1) // 2, kernel_size)
    py, px = rows + predicted[..., 0 : 2 * taps : 2], cols + predicted[..., 1 : 2 * taps : 2]
    fully_out = (py <= -1) | (py >= 5) | (px <= -1) | (px >= 6)
    partly_out = ~fully_out & ((py < 0) | (py > 4) | (px < 0) | (px > 5))
    assert fully_out.sum() >= 10 and partly_out.sum() >= 10
    assert np.abs(predicted[..., : 2 * taps]).max() > 2.0
    actual = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_reference_with_zero_offsets_is_half_a_plain_convolution():
    """The reference itself, checked against the loop convolution (so the two are not wrong the same way)."""
    rng = np.random.default_rng(1)
    x, kernel = rng.normal(size=(1, 4, 5, 2)), rng.normal(size=(3, 3, 2, 3))
    out, _ = reference_dcn_v2(x, kernel, np.zeros(3), np.zeros((3, 3, 2, 27)), np.zeros(27))
    np.testing.assert_allclose(out, 0.5 * _conv_same(x, kernel, 0.0), atol=1e-12)
