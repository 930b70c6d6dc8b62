"""Gaussian radius and kernels for CenterNet heatmap targets (keras.ops, any backend).

Radius: the largest corner displacement r such that a box whose corners are shifted by r still has IoU >= min_overlap
with the ground truth box (CornerNet, Law & Deng 2018). For a box of height h and width w (in output cells) it is the
smallest root of three quadratics in r, one per case (both shifted corners outside the box, both inside, one of
each), with a = (1, 4, 4o), b = (h + w, 2 (h + w), -2 o (h + w)), c = (w h (1 - o) / (1 + o), (1 - o) w h, (o - 1) w h).

variant="cornernet" reproduces the formula of the CornerNet/CenterNet reference code, which computes every root as
(b + sqrt(b^2 - 4ac)) / 2: the larger root for cases 1-2 and no division by a (known quirk,
xingyizhou/CenterNet#116). The paper's published numbers use it.
variant="corrected" takes the proper roots (b - sqrt(b^2 - 4ac)) / 2a for cases 1-2 and
(-b + sqrt(b^2 - 4ac)) / 2a for case 3, as mmdetection and TTFNet do; it gives
smaller radii, i.e. sharper targets.

Kernel: exp(-(dx^2 + dy^2) / (2 sigma^2)) with sigma = (2 r + 1) / 6, truncated to the (2r+1) x (2r+1) window around
the integer center, so the peak is exactly 1 at the center (the paper's code). The TF Object Detection API
(utils/target_assigner_utils.py `coordinates_to_heatmap`) draws the same Gaussian over the whole map (`truncate=False`)
and takes its radius from the float box size instead of the ceiled one (`layers/target_encoder.py`).
"""

from keras import ops

RADIUS_VARIANTS = ("cornernet", "corrected")
HEATMAP_GAUSSIANS = ("paper", "od_api")  # ceiled box size and a (2r+1)^2 window; float box size, whole map


def gaussian_radius(height, width, min_overlap=0.7, variant="cornernet"):
    """Radius (float, before flooring) for boxes of `height` x `width` output cells, any broadcastable shapes."""
    if variant not in RADIUS_VARIANTS:
        raise ValueError(f"radius variant must be one of {RADIUS_VARIANTS}, got {variant!r}")
    o = min_overlap
    h, w = height, width
    b1 = h + w
    c1 = w * h * (1 - o) / (1 + o)
    sq1 = ops.sqrt(ops.maximum(b1**2 - 4 * c1, 0.0))
    b2 = 2 * (h + w)
    c2 = (1 - o) * w * h
    sq2 = ops.sqrt(ops.maximum(b2**2 - 16 * c2, 0.0))
    b3 = -2 * o * (h + w)
    c3 = (o - 1) * w * h
    sq3 = ops.sqrt(ops.maximum(b3**2 - 16 * o * c3, 0.0))
    if variant == "cornernet":
        r1, r2, r3 = (b1 + sq1) / 2, (b2 + sq2) / 2, (b3 + sq3) / 2
    else:
        r1, r2, r3 = (b1 - sq1) / 2, (b2 - sq2) / 8, (-b3 + sq3) / (8 * o)
    return ops.minimum(ops.minimum(r1, r2), r3)


def gaussian_kernels(centers_x, centers_y, radius, height, width, truncate=True):
    """Gaussians, one per center, truncated to their (2r+1)^2 window (`truncate`, the paper) or over the whole map
    (`truncate=False`, the OD API).

    Args:
        centers_x, centers_y: integer centers (any int/float dtype) [..., N] in output cells.
        radius: integer radius [..., N] (>= 0).
        height, width: output grid size (python ints).
        truncate: zero outside the window |dx| <= r and |dy| <= r (python bool).
    Returns:
        float32 [..., N, height, width] with exactly 1 at each center (and 0 outside its window with `truncate`).
    """
    cx = ops.cast(centers_x, "float32")[..., None]
    cy = ops.cast(centers_y, "float32")[..., None]
    r = ops.cast(radius, "float32")[..., None]
    sigma = (2.0 * r + 1.0) / 6.0
    dx = ops.arange(width, dtype="float32") - cx  # [..., N, width]
    dy = ops.arange(height, dtype="float32") - cy  # [..., N, height]
    gx = ops.exp(-(dx * dx) / (2.0 * sigma * sigma))
    gy = ops.exp(-(dy * dy) / (2.0 * sigma * sigma))
    if truncate:
        gx = ops.where(ops.abs(dx) <= r, gx, 0.0)
        gy = ops.where(ops.abs(dy) <= r, gy, 0.0)
    return gy[..., :, None] * gx[..., None, :]
