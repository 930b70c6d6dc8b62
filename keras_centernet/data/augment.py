"""CenterNet augmentation as plain TensorFlow ops on single examples (the evaluation letterbox is
``preprocessing.Letterbox``, whose TensorFlow image resize is ``resample`` below).

Images are ``[height, width, 3]`` (uint8 or float, 0..255); boxes are float32 ``[N, 4]`` xmin, ymin, xmax, ymax
in pixels of that image. Random ops take a stateless ``seed`` (int ``[2]``), so a pipeline is reproducible
whatever its parallelism. Geometry goes through one bilinear ``resample`` (``tf.image.crop_and_resize``): it
scales and crops in one pass over the output pixels, several times faster than keras-cv's JitteredResize.
"""

import tensorflow as tf

# ImageNet RGB PCA (AlexNet lighting), as in the CenterNet code; eigenvalues for images in 0..1.
_EIGEN_VALUES = (0.2141788, 0.01817699, 0.00629639)
_EIGEN_VECTORS = (
    (-0.58752847, -0.69563484, 0.41340352),
    (-0.5832747, 0.00994535, -0.81221408),
    (-0.56089297, 0.71832671, 0.41158938),
)
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def _size(image):
    shape = tf.shape(image)
    return tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)


def resample(image, offset, scale, size):
    """Bilinear ``[size, size, 3]`` float32 view of ``image`` scaled by ``scale`` from ``offset`` (y, x).

    Output pixel (i, j) samples the input at ``offset + ((i, j) + 0.5) / scale - 0.5`` (pixel centres), so a
    point p of the input lands at ``(p - offset) * scale``; samples outside the image are 0 (padding).
    """
    height, width = _size(image)
    scale = tf.cast(scale, tf.float32)
    start = tf.cast(offset, tf.float32) + 0.5 / scale - 0.5
    end = start + (tf.cast(size, tf.float32) - 1.0) / scale
    extent = tf.maximum(tf.stack([height, width]) - 1.0, 1.0)
    box = tf.concat([start / extent, end / extent], axis=0)
    output = tf.image.crop_and_resize(
        image[tf.newaxis], box[tf.newaxis], tf.zeros([1], tf.int32), [size, size], extrapolation_value=0.0
    )
    return output[0]


def transform_boxes(boxes, offset, scale):
    """Boxes [N, 4] xyxy through ``resample``'s mapping: ``(box - offset) * scale`` (offset is y, x)."""
    offset = tf.cast(offset, tf.float32)
    shift = tf.stack([offset[1], offset[0], offset[1], offset[0]])
    return (boxes - shift) * tf.cast(scale, tf.float32)


def clip_boxes(boxes, height, width):
    """Clip boxes [N, 4] xyxy to the image ``[0, width] x [0, height]``."""
    limits = tf.cast(tf.stack([width, height, width, height]), tf.float32)
    return tf.clip_by_value(boxes, 0.0, limits)


def box_size_mask(boxes, min_size):
    """bool [N]: boxes at least ``min_size`` pixels wide and high."""
    return tf.logical_and(boxes[:, 2] - boxes[:, 0] >= min_size, boxes[:, 3] - boxes[:, 1] >= min_size)


def _crop_border(side):
    """Distance of the crop centre from the image edge: 128 halved until the side exceeds twice it (paper)."""
    halvings = tf.where(side > 256.0, 0.0, tf.floor(tf.math.log(256.0 / side) / tf.math.log(2.0)) + 1.0)
    return 128.0 / tf.pow(2.0, halvings)


def scale_crop(image, boxes, offset, scale, size, pixel_fn=None):
    """The ``size`` x ``size`` window of ``image`` scaled by ``scale`` whose top-left corner is at ``offset``
    (y, x) in input pixels; outside the image is 0. Returns (float32 image, boxes in output pixels).
    ``pixel_fn``: optional per-pixel function (colour jitter) applied to the image pixels before the zero
    padding is added, so it costs nothing on the padding.

    Fast path for training: slices the visible input pixels (whole pixels), resizes them with
    ``tf.image.resize`` and pads. Pixel and box mapping is the same affine map per axis
    ``out = out0 + (p - start) * gain`` (within half an output pixel of ``(p - offset) * scale``).
    """
    shape = tf.shape(image)[:2]
    scale = tf.cast(scale, tf.float32)
    offset = tf.cast(offset, tf.float32)
    side = tf.cast(size, tf.float32) / scale
    start = tf.clip_by_value(tf.cast(tf.floor(offset), tf.int32), 0, shape - 1)
    stop = tf.clip_by_value(tf.cast(tf.math.ceil(offset + side), tf.int32), start + 1, shape)
    out0 = tf.cast(tf.round((tf.cast(start, tf.float32) - offset) * scale), tf.int32)
    length = tf.maximum(tf.cast(tf.round(tf.cast(stop - start, tf.float32) * scale), tf.int32), 1)
    gain = tf.cast(length, tf.float32) / tf.cast(stop - start, tf.float32)
    resized = tf.image.resize(image[start[0]:stop[0], start[1]:stop[1]], length)
    first = tf.maximum(-out0, 0)
    last = tf.maximum(tf.minimum(length, size - out0), first)
    visible = resized[first[0]:last[0], first[1]:last[1]]
    if pixel_fn is not None:
        visible = pixel_fn(visible)
    before = tf.clip_by_value(out0, 0, size)
    after = tf.maximum(size - before - (last - first), 0)
    output = tf.pad(visible, [[before[0], after[0]], [before[1], after[1]], [0, 0]])
    output = tf.ensure_shape(output[:size, :size], [size, size, 3])
    start_xy = tf.cast(tf.stack([start[1], start[0], start[1], start[0]]), tf.float32)
    out0_xy = tf.cast(tf.stack([out0[1], out0[0], out0[1], out0[0]]), tf.float32)
    gain_xy = tf.stack([gain[1], gain[0], gain[1], gain[0]])
    return output, out0_xy + (boxes - start_xy) * gain_xy


def random_scale_crop(image, boxes, seed, size, scale_range=(0.6, 1.3), pixel_fn=None):
    """The paper's random scale + crop: a square of side ``max(h, w) * U(scale_range)`` around a random
    centre (kept ``_crop_border`` px inside the image) resized to ``[size, size]``; outside the image is 0.
    ``pixel_fn``: see ``scale_crop``.

    Returns the float32 image and the transformed (unclipped) boxes.
    """
    height, width = _size(image)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    factor = tf.random.stateless_uniform([], seeds[0], scale_range[0], scale_range[1])
    side = tf.maximum(height, width) * factor
    border_x, border_y = _crop_border(width), _crop_border(height)
    centre_x = tf.random.stateless_uniform([], seeds[1], border_x, tf.maximum(width - border_x, border_x + 1e-3))
    centre_y = tf.random.stateless_uniform([], seeds[2], border_y, tf.maximum(height - border_y, border_y + 1e-3))
    offset = tf.stack([centre_y - side / 2.0, centre_x - side / 2.0])
    return scale_crop(image, boxes, offset, tf.cast(size, tf.float32) / side, size, pixel_fn)


def flip_horizontal(image, boxes):
    """Mirror the image left-right and its boxes: x -> width - x."""
    width = tf.cast(tf.shape(image)[1], boxes.dtype)
    flipped = tf.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
    return tf.reverse(image, axis=[1]), flipped


def random_flip(image, boxes, seed, probability=0.5):
    """``flip_horizontal`` with the given probability."""
    flip = tf.random.stateless_uniform([], seed) < probability
    return tf.cond(flip, lambda: flip_horizontal(image, boxes), lambda: (image, boxes))


def color_jitter(image, seed, brightness=0.4, contrast=0.4, saturation=0.4):
    """CenterNet colour augmentation on a float 0..255 image: brightness (scale by 1 + U(-b, b)), contrast
    (blend with the mean grey) and saturation (blend with the pixel's grey), applied in that order, clipped to
    0..255. All three are linear, so they run as one 3x3 colour matrix and a bias."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    a_b = 1.0 + tf.random.stateless_uniform([], seeds[0], -brightness, brightness)
    a_c = 1.0 + tf.random.stateless_uniform([], seeds[1], -contrast, contrast)
    a_s = 1.0 + tf.random.stateless_uniform([], seeds[2], -saturation, saturation)
    weights = tf.constant(_GRAY_WEIGHTS, tf.float32)
    # mean grey from every 4th pixel in each direction: the same statistic at 1/16 of the cost
    mean = tf.reduce_sum(tf.reduce_mean(tf.cast(image[::4, ::4], tf.float32), axis=[0, 1]) * weights)
    # x*a_b; then x*a_c + mean*(1-a_c); then x*a_s + gray(x)*(1-a_s): out = x @ M + bias
    matrix = (a_s * a_c * a_b) * tf.eye(3) + ((1.0 - a_s) * a_c * a_b) * weights[:, tf.newaxis] * tf.ones([1, 3])
    bias = mean * ((1.0 - a_c) * a_b)
    shape = tf.shape(image)
    mixed = tf.matmul(tf.reshape(tf.cast(image, tf.float32), [-1, 3]), matrix) + bias
    return tf.clip_by_value(tf.reshape(mixed, shape), 0.0, 255.0)


def pca_lighting(image, seed, std=0.1):
    """AlexNet PCA lighting noise (alpha ~ N(0, std)) on a float 0..255 image, clipped to 0..255."""
    alpha = tf.random.stateless_normal([3], seed, stddev=std)
    shift = tf.linalg.matvec(tf.constant(_EIGEN_VECTORS), alpha * tf.constant(_EIGEN_VALUES)) * 255.0
    return tf.clip_by_value(image + tf.cast(shift, image.dtype), 0.0, 255.0)


# --- the TF Object Detection API's ops (research/object_detection/core/preprocessor.py), in pixels ---


def _box_areas(boxes):
    return tf.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * tf.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


def _sample_crop_window(image, boxes, seed, min_object_covered, aspect_range, area_range):
    """(offset [2] y, x, size [2] h, w) int32 of a window covering >= ``min_object_covered`` of one box, with
    aspect (w / h) and area fraction in the given ranges (tf.image.sample_distorted_bounding_box, 100 tries,
    the whole image when none fits or there are no boxes)."""
    height, width = _size(image)
    normalized = tf.clip_by_value(tf.stack([boxes[:, 1] / height, boxes[:, 0] / width, boxes[:, 3] / height,
                                            boxes[:, 2] / width], axis=1), 0.0, 1.0)  # fmt: skip
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), normalized[tf.newaxis], seed, min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_range, area_range=area_range, max_attempts=100, use_image_if_no_bounding_boxes=True,
    )  # fmt: skip
    return begin[:2], size[:2]


def random_object_crop(image, boxes, labels, seed, min_object_covered=1.0, aspect_range=(0.75, 1.33),
                       area_range=(0.1, 1.0), overlap_thresh=0.3, keep_probability=0.0):  # fmt: skip
    """The OD API's ``random_crop_image``: a random window (see ``_sample_crop_window``) cut out of ``image``;
    with ``keep_probability`` (its random_coef) the image is kept whole. Boxes with less than ``overlap_thresh``
    of their area inside the window are dropped (with their labels), the rest moved into the window and clipped.

    image [H, W, 3]; boxes float32 [N, 4] xyxy pixels; labels [N]. Returns (image [h, w, 3], boxes [M, 4] xyxy
    pixels of the crop, labels [M]).
    """
    seeds = tf.random.experimental.stateless_split(seed, 2)
    offset, size = _sample_crop_window(image, boxes, seeds[0], min_object_covered, aspect_range, area_range)
    keep_whole = tf.random.stateless_uniform([], seeds[1]) < keep_probability
    offset = tf.where(keep_whole, tf.zeros_like(offset), offset)
    size = tf.where(keep_whole, tf.shape(image)[:2], size)
    cropped = image[offset[0]:offset[0] + size[0], offset[1]:offset[1] + size[1]]
    window = tf.cast(tf.stack([offset[1], offset[0], offset[1] + size[1], offset[0] + size[0]]), tf.float32)
    inside = tf.concat([tf.maximum(boxes[:, :2], window[:2]), tf.minimum(boxes[:, 2:], window[2:])], axis=1)
    overlap = _box_areas(inside) / tf.maximum(_box_areas(boxes), 1e-12)
    keep = tf.logical_and(overlap >= overlap_thresh, _box_areas(inside) > 0.0)
    moved = transform_boxes(tf.boolean_mask(boxes, keep), tf.cast(offset, tf.float32), 1.0)
    return cropped, clip_boxes(moved, size[0], size[1]), tf.boolean_mask(labels, keep)


def random_pad_amounts(seed, max_pad):
    """The OD API's ``random_absolute_pad_image`` draws: (pad [2], before [2]) int32 rows/columns added, pad ~
    U{0..max_pad-1} per axis (drawn apart) and the image's offset inside, before ~ U{0..pad-1} (0 when pad is 0)."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    pad = tf.random.stateless_uniform([2], seeds[0], 0, max(int(max_pad), 1), dtype=tf.int32)
    before = tf.cast(tf.floor(tf.random.stateless_uniform([2], seeds[1]) * tf.cast(pad, tf.float32)), tf.int32)
    return pad, before


def random_absolute_pad(image, boxes, seed, max_pad):
    """The OD API's ``random_absolute_pad_image`` with a black pad (``random_pad_amounts``). Returns (image
    [H + pad_y, W + pad_x, 3], boxes [N, 4] xyxy moved with it)."""
    pad, before = random_pad_amounts(seed, max_pad)
    padded = tf.pad(image, [[before[0], pad[0] - before[0]], [before[1], pad[1] - before[1]], [0, 0]])
    return tf.ensure_shape(padded, [None, None, 3]), transform_boxes(boxes, -tf.cast(before, tf.float32), 1.0)


def pad_and_letterbox(image, boxes, seed, max_pad, size, pixel_fn=None):
    """``random_absolute_pad`` then a letterbox to ``[size, size]`` (scale size / longer padded side, image at the
    top left) in one ``scale_crop`` pass: the pad is the crop's zero border, so ``pixel_fn`` (colour) sees the
    image pixels only, at output resolution. Returns (float32 [size, size, 3], boxes in output pixels)."""
    pad, before = random_pad_amounts(seed, max_pad)
    padded_side = tf.cast(tf.reduce_max(tf.shape(image)[:2] + pad), tf.float32)
    return scale_crop(image, boxes, -tf.cast(before, tf.float32), tf.cast(size, tf.float32) / padded_side, size,
                      pixel_fn)  # fmt: skip


def od_api_colour(image, seed, hue_delta=0.0, contrast_range=(1.0, 1.0), saturation_range=(1.0, 1.0),
                  brightness_delta=0.0):  # fmt: skip
    """The OD API's random_adjust_hue, _contrast, _saturation, _brightness in that order (the config's), each
    clipped to the valid range as there: hue shift U(-hue_delta, hue_delta) of a turn, contrast and saturation
    factors U(range), brightness + U(-delta, delta) on 0..1 pixels. Float ``[h, w, 3]`` 0..255 in and out."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    pixels = tf.cast(image, tf.float32) / 255.0
    if hue_delta:
        delta = tf.random.stateless_uniform([], seeds[0], -hue_delta, hue_delta)
        pixels = tf.clip_by_value(tf.image.adjust_hue(pixels, delta), 0.0, 1.0)
    if tuple(contrast_range) != (1.0, 1.0):
        factor = tf.random.stateless_uniform([], seeds[1], contrast_range[0], contrast_range[1])
        pixels = tf.clip_by_value(tf.image.adjust_contrast(pixels, factor), 0.0, 1.0)
    if tuple(saturation_range) != (1.0, 1.0):
        factor = tf.random.stateless_uniform([], seeds[2], saturation_range[0], saturation_range[1])
        pixels = tf.clip_by_value(tf.image.adjust_saturation(pixels, factor), 0.0, 1.0)
    if brightness_delta:
        delta = tf.random.stateless_uniform([], seeds[3], -brightness_delta, brightness_delta)
        pixels = tf.clip_by_value(pixels + delta, 0.0, 1.0)
    return pixels * 255.0
