"""The TF OD API's augmentation ops (random_crop_image, random_absolute_pad_image, hue/contrast/saturation/
brightness): boxes stay on their objects, and the pipeline's "object" crop wires them end to end.

Images encode their own coordinates: pixel (y, x) is (x + 1, y + 1, code) with code 0 on the background and a
unique code per rectangle, so any crop or pad tells where it came from and which object each pixel belongs to.
"""

import io

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow

BOXES = ((10, 8, 40, 30), (60, 20, 100, 70), (20, 50, 45, 90), (100, 80, 120, 95))  # xyxy px in 130 x 100
CODES = (60, 120, 180, 240)


def _coded_image(height=100, width=130):
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x + 1, y + 1, np.zeros_like(x)], axis=-1).astype(np.uint8)
    for (xmin, ymin, xmax, ymax), code in zip(BOXES, CODES, strict=True):
        image[ymin:ymax, xmin:xmax, 2] = code
    return image


def _ioa(box, window):
    """Fraction of ``box``'s area inside ``window`` (both xyxy)."""
    width = max(min(box[2], window[2]) - max(box[0], window[0]), 0)
    height = max(min(box[3], window[3]) - max(box[1], window[1]), 0)
    return width * height / ((box[2] - box[0]) * (box[3] - box[1]))


def _check_boxes_on_their_pixels(image, boxes, labels):
    for (xmin, ymin, xmax, ymax), label in zip(boxes, labels, strict=True):
        assert 0 <= xmin < xmax <= image.shape[1] and 0 <= ymin < ymax <= image.shape[0]
        inside = image[int(ymin):int(np.ceil(ymax)), int(xmin):int(np.ceil(xmax)), 2]
        assert np.all(inside == CODES[label]), (label, np.unique(inside))


def _crop(seed, **options):
    import tensorflow as tf

    from keras_centernet.data import augment

    options = {"min_object_covered": 1.0, "aspect_range": (0.5, 1.7), "area_range": (0.1, 1.0), **options}
    image, boxes, labels = augment.random_object_crop(
        tf.constant(_coded_image()), tf.constant(BOXES, tf.float32), tf.range(4), tf.constant([seed, 3]), **options
    )
    return image.numpy(), boxes.numpy(), labels.numpy()


def test_object_crop_keeps_boxes_on_their_objects_and_drops_those_mostly_outside():
    windows, dropped = set(), 0
    for seed in range(40):
        image, boxes, labels = _crop(seed)
        left, top = int(image[0, 0, 0]) - 1, int(image[0, 0, 1]) - 1  # where the crop came from
        window = (left, top, left + image.shape[1], top + image.shape[0])
        windows.add(window)
        aspect, area = image.shape[1] / image.shape[0], image.shape[0] * image.shape[1] / (100 * 130)
        assert 0.5 - 0.02 <= aspect <= 1.7 + 0.02 and 0.1 - 0.01 <= area <= 1.0
        assert any(_ioa(box, window) == 1.0 for box in BOXES)  # min_object_covered 1: one object whole
        expected = [i for i, box in enumerate(BOXES) if _ioa(box, window) >= 0.3]
        assert labels.tolist() == expected  # boxes with < 0.3 of their area inside are dropped
        dropped += len(BOXES) - len(expected)
        moved = np.clip(np.array(BOXES, np.float32)[expected] - [left, top, left, top], 0,
                        [image.shape[1], image.shape[0]] * 2)  # fmt: skip
        np.testing.assert_allclose(boxes, moved, atol=1e-4)  # moved into the crop and clipped
        _check_boxes_on_their_pixels(image, boxes, labels)
    assert len(windows) > 10 and dropped > 0  # really random, and the overlap rule was exercised


def test_object_crop_keep_probability_one_keeps_the_image():
    image, boxes, labels = _crop(5, keep_probability=1.0)
    np.testing.assert_array_equal(image, _coded_image())
    np.testing.assert_array_equal(boxes, np.array(BOXES, np.float32))
    assert labels.tolist() == [0, 1, 2, 3]
    kept = sum(_crop(seed, keep_probability=0.25)[0].shape == (100, 130, 3) for seed in range(40))
    assert 3 <= kept <= 25  # about a quarter whole (plus crops that happen to be whole)


def test_absolute_pad_moves_boxes_with_their_pixels_and_pads_black():
    import tensorflow as tf

    from keras_centernet.data import augment

    sizes = set()
    for seed in range(20):
        padded, boxes = augment.random_absolute_pad(
            tf.constant(_coded_image()), tf.constant(BOXES, tf.float32), tf.constant([seed, 1]), 30
        )
        padded, boxes = padded.numpy(), boxes.numpy()
        extra_y, extra_x = padded.shape[0] - 100, padded.shape[1] - 130
        assert 0 <= extra_y < 30 and 0 <= extra_x < 30
        sizes.add((extra_y, extra_x))
        top, left = [int(v[0]) for v in np.nonzero(np.all(padded == [1, 1, 0], axis=-1))]
        np.testing.assert_array_equal(padded[top:top + 100, left:left + 130], _coded_image())
        assert padded.sum() == _coded_image().astype(np.int64).sum()  # the padding is black
        np.testing.assert_allclose(boxes, np.array(BOXES, np.float32) + [left, top, left, top])
        _check_boxes_on_their_pixels(padded, boxes, range(4))
    assert len(sizes) > 5


def test_pad_and_letterbox_in_one_pass_equals_pad_then_letterbox():
    import tensorflow as tf

    from keras_centernet.data import augment
    from keras_centernet.preprocessing import Letterbox

    image, boxes = tf.constant(_coded_image()), tf.constant(BOXES, tf.float32)
    letterbox = Letterbox(64)
    for seed in range(6):
        fused, fused_boxes = augment.pad_and_letterbox(image, boxes, tf.constant([seed, 1]), 60, 64)
        padded, padded_boxes = augment.random_absolute_pad(image, boxes, tf.constant([seed, 1]), 60)
        reference, scale = letterbox.letterbox_image_tf(padded)
        np.testing.assert_allclose(fused_boxes, letterbox.boxes_to_input(padded_boxes, scale), atol=0.75)
        codes, expected = fused.numpy()[..., 2], reference.numpy()[..., 2]
        assert np.mean(np.abs(codes - expected) > 30) < 0.06  # the same objects at the same places (edges aside)
        _check_boxes_on_their_pixels(np.round(fused.numpy()), *_interiors(fused_boxes.numpy()))


def _interiors(boxes):
    """Boxes shrunk by 1.5 px (bilinear edges) with their labels, those still non-empty."""
    inner = boxes + [1.5, 1.5, -1.5, -1.5]
    keep = (inner[:, 2] > inner[:, 0]) & (inner[:, 3] > inner[:, 1])
    return inner[keep], np.arange(len(boxes))[keep]


def test_od_api_colour_ops_match_their_definitions():
    import tensorflow as tf

    from keras_centernet.data import augment

    rng = np.random.default_rng(0)
    image = rng.uniform(40, 200, (16, 16, 3)).astype(np.float32)
    seed = tf.constant([4, 2])
    assert np.array_equal(augment.od_api_colour(image, seed).numpy().round(3), image.round(3))  # defaults: off
    shifted = augment.od_api_colour(image, seed, brightness_delta=0.2).numpy() - image
    assert np.ptp(shifted) < 1e-3 and 0 < abs(shifted[0, 0, 0]) <= 0.2 * 255  # one additive shift
    contrast = augment.od_api_colour(image, seed, contrast_range=(0.8, 1.25)).numpy()
    mean = image.mean(axis=(0, 1))
    factor = (contrast - mean) / (image - mean)
    assert np.ptp(factor) < 1e-3 and 0.8 <= factor.mean() <= 1.25 and abs(factor.mean() - 1) > 1e-3
    grey = np.full((4, 4, 3), 90.0, np.float32)  # hue and saturation leave a grey image grey
    out = augment.od_api_colour(grey, seed, hue_delta=0.02, saturation_range=(0.8, 1.25)).numpy()
    np.testing.assert_allclose(out, grey, atol=0.5)
    red = np.zeros((2, 2, 3), np.float32)
    red[..., 0] = 200.0
    hue = augment.od_api_colour(red, seed, hue_delta=0.5).numpy()
    assert not np.allclose(hue, red, atol=1.0) and np.allclose(hue.max(axis=-1), 200.0, atol=1.0)  # value kept


def test_pipeline_object_crop_puts_boxes_on_their_objects(record_writer):
    from PIL import Image

    from keras_centernet.data import build_dataset, tfrecord

    buffer = io.BytesIO()
    Image.fromarray(_coded_image()).save(buffer, format="PNG")
    normalized = [[xmin / 130, ymin / 100, xmax / 130, ymax / 100] for xmin, ymin, xmax, ymax in BOXES]
    record = tfrecord.encode_example(buffer.getvalue(), image_format="png", height=100, width=130, source_id="c",
                                     boxes=normalized, labels=[1, 2, 3, 4])  # fmt: skip
    path = record_writer("coded.record", [record] * 8)
    dataset = build_dataset(path, training=True, batch_size=8, image_size=64, label_map=[1, 2, 3, 4], seed=3,
                            shuffle_buffer=0, crop="object", max_pad=40, color_jitter=0.0, flip_probability=0.0,
                            crop_aspect_range=(0.5, 1.7), crop_keep_probability=0.25)  # fmt: skip
    images, targets = next(iter(dataset))
    shapes = set()
    for image, boxes, labels in zip(images.numpy(), targets["boxes"].numpy(), targets["labels"].numpy(), strict=True):
        assert image.shape == (64, 64, 3)
        valid = labels >= 0
        assert valid.any()
        for (xmin, ymin, xmax, ymax), label in zip(boxes[valid], labels[valid], strict=True):
            assert 0 <= xmin < xmax <= 64 and 0 <= ymin < ymax <= 64
            inner = image[int(np.ceil(ymin)) + 1:int(ymax) - 1, int(np.ceil(xmin)) + 1:int(xmax) - 1, 2]
            if inner.size:  # bilinear letterbox: away from the edges the object's code is exact
                assert np.abs(inner - CODES[label]).max() < 1.0, (label, inner.min(), inner.max())
        shapes.add(tuple(np.round(boxes[valid][0], 1)))
    assert len(shapes) > 2
