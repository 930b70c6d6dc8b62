"""Augmentation invariants and the letterbox + inverse on single examples."""

import numpy as np
import pytest

from keras_centernet.preprocessing import Letterbox

pytestmark = pytest.mark.tensorflow


def _image_with_rectangle(height, width, box):
    image = np.zeros((height, width, 3), np.uint8)
    xmin, ymin, xmax, ymax = box
    image[ymin:ymax, xmin:xmax] = 255
    return image


def test_random_scale_crop_keeps_boxes_on_their_pixels_and_inside_the_crop():
    import tensorflow as tf

    from keras_centernet.data import augment

    box = (40, 30, 100, 70)
    image = tf.constant(_image_with_rectangle(120, 160, box))
    boxes = tf.constant([box], tf.float32)
    seen_scales = []
    for seed in range(12):
        out, moved = augment.random_scale_crop(image, boxes, tf.constant([seed, 7]), 64)
        clipped = augment.clip_boxes(moved, 64, 64).numpy()
        assert out.shape == (64, 64, 3) and out.dtype == tf.float32
        assert np.all(clipped >= 0) and np.all(clipped <= 64)
        xmin, ymin, xmax, ymax = moved.numpy()[0]
        scale = (xmax - xmin) / 60.0
        np.testing.assert_allclose((ymax - ymin) / 40.0, scale, rtol=0.02)  # aspect kept (whole input pixels)
        seen_scales.append(scale * 160 / 64)  # = 1 / scale factor of the longer side
        # the rectangle's pixels are where its box went: white inside (away from edges), dark outside
        inside = out.numpy()[int(np.ceil(max(ymin, 0))) + 1:int(min(ymax, 64)) - 1,
                             int(np.ceil(max(xmin, 0))) + 1:int(min(xmax, 64)) - 1]
        if inside.size:
            assert inside.min() > 250
        assert out.numpy().sum() <= 255.0 * 3 * (min(xmax, 64) - max(xmin, 0) + 2) * (min(ymax, 64) - max(ymin, 0) + 2)
    assert 1 / 1.3 - 1e-4 <= min(seen_scales) and max(seen_scales) <= 1 / 0.6 + 1e-4
    assert max(seen_scales) - min(seen_scales) > 0.2  # really random


def test_flip_twice_is_identity_and_moves_boxes_with_pixels():
    import tensorflow as tf

    from keras_centernet.data import augment

    box = (5, 2, 12, 9)
    image = tf.constant(_image_with_rectangle(16, 20, box), tf.float32)
    boxes = tf.constant([box], tf.float32)
    flipped, flipped_boxes = augment.flip_horizontal(image, boxes)
    np.testing.assert_array_equal(flipped_boxes.numpy(), [[8, 2, 15, 9]])
    np.testing.assert_array_equal(flipped.numpy(), _image_with_rectangle(16, 20, (8, 2, 15, 9)))
    back, back_boxes = augment.flip_horizontal(flipped, flipped_boxes)
    np.testing.assert_array_equal(back.numpy(), image.numpy())
    np.testing.assert_array_equal(back_boxes.numpy(), boxes.numpy())
    never, _ = augment.random_flip(image, boxes, tf.constant([1, 2]), probability=0.0)
    always, _ = augment.random_flip(image, boxes, tf.constant([1, 2]), probability=1.0)
    np.testing.assert_array_equal(never.numpy(), image.numpy())
    np.testing.assert_array_equal(always.numpy(), flipped.numpy())


def test_images_without_boxes_pass_every_op():
    import tensorflow as tf

    from keras_centernet.data import augment

    image = tf.constant(np.full((20, 30, 3), 100, np.uint8))
    empty = tf.zeros([0, 4])
    out, boxes = augment.random_scale_crop(image, empty, tf.constant([1, 1]), 32)
    out, boxes = augment.random_flip(out, augment.clip_boxes(boxes, 32, 32), tf.constant([1, 2]), 1.0)
    out = augment.pca_lighting(augment.color_jitter(out, tf.constant([3, 4])), tf.constant([5, 6]))
    assert out.shape == (32, 32, 3) and boxes.shape == (0, 4)
    assert augment.box_size_mask(boxes, 2.0).shape == (0,)
    letterboxed, scale = Letterbox(64).letterbox_image_tf(image)
    assert letterboxed.shape == (64, 64, 3) and abs(float(scale) - 64 / 30) < 1e-6


def test_color_jitter_stays_in_range_is_seeded_and_zero_jitter_is_identity():
    import tensorflow as tf

    from keras_centernet.data import augment

    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (8, 8, 3)), tf.float32)
    one = augment.color_jitter(image, tf.constant([1, 2]))
    again = augment.color_jitter(image, tf.constant([1, 2]))
    other = augment.color_jitter(image, tf.constant([3, 4]))
    np.testing.assert_array_equal(one.numpy(), again.numpy())
    assert not np.allclose(one.numpy(), other.numpy())
    assert one.numpy().min() >= 0 and one.numpy().max() <= 255
    same = augment.color_jitter(image, tf.constant([1, 2]), 0.0, 0.0, 0.0)
    np.testing.assert_allclose(same.numpy(), image.numpy(), atol=1e-3)
    lit = augment.pca_lighting(image, tf.constant([1, 2]))
    shift = (lit - image).numpy()
    np.testing.assert_allclose(shift[2:6, 2:6], np.broadcast_to(shift[3, 3], (4, 4, 3)), atol=1e-3)


def _edge(profile):
    """Sub-pixel position (pixel-edge coordinates) of the first rising 50% crossing of a 0..255 profile."""
    index = int(np.argmax(profile >= 127.5))
    low, high = profile[index - 1], profile[index]
    return index - 1 + (127.5 - low) / (high - low) + 0.5


@pytest.mark.parametrize("height,width,size", [(60, 100, 128), (300, 200, 128)])
def test_letterbox_and_inverse_map_a_box_back_to_its_pixels(height, width, size):
    import tensorflow as tf


    box = (20, 10, 50, 40)
    image = tf.constant(_image_with_rectangle(height, width, box))
    letterbox = Letterbox(size)
    out, scale = letterbox.letterbox_image_tf(image)
    scale = float(scale)
    assert abs(scale - size / max(height, width)) < 1e-7
    out = out.numpy()[..., 0]
    # padding is zero, bottom/right
    assert out[int(np.ceil(height * scale)) + 1:].max(initial=0) == 0
    assert out[:, int(np.ceil(width * scale)) + 1:].max(initial=0) == 0
    row, column = int((box[1] + box[3]) / 2 * scale), int((box[0] + box[2]) / 2 * scale)
    measured = np.array([_edge(out[row]), _edge(out[:, column]), size - _edge(out[row, ::-1]),
                         size - _edge(out[::-1, column])])
    boxes = tf.constant([box], tf.float32)
    np.testing.assert_allclose(letterbox.boxes_to_input(boxes, scale).numpy()[0], measured, atol=0.5)
    # back in original pixels: within 0.5 px (0.5 input px when downscaled, the resolution of the measurement)
    np.testing.assert_allclose(letterbox.boxes_to_original(tf.constant([measured], tf.float32), scale).numpy()[0],
                               box, atol=0.5 / min(scale, 1.0))
    round_trip = letterbox.boxes_to_original(letterbox.boxes_to_input(boxes, scale), scale)
    np.testing.assert_allclose(round_trip.numpy(), boxes.numpy(), atol=1e-4)


@pytest.mark.parametrize("offset,scale,box", [((-5.3, 7.7), 1.5, (10, 5, 30, 25)),
                                              ((12.2, -20.6), 0.45, (10, 20, 30, 40))])
def test_scale_crop_moves_boxes_with_their_pixels(offset, scale, box):
    import tensorflow as tf

    from keras_centernet.data import augment

    image = tf.constant(_image_with_rectangle(80, 120, box))
    out, moved = augment.scale_crop(image, tf.constant([box], tf.float32), tf.constant(offset), scale, 64)
    out, moved = out.numpy()[..., 0], moved.numpy()[0]
    row, column = int((moved[1] + moved[3]) / 2), int((moved[0] + moved[2]) / 2)
    measured = [_edge(out[row]), _edge(out[:, column]), 64 - _edge(out[row, ::-1]), 64 - _edge(out[::-1, column])]
    np.testing.assert_allclose(moved, measured, atol=0.5)
    expected = (np.array(box, np.float32) - [offset[1], offset[0], offset[1], offset[0]]) * scale
    np.testing.assert_allclose(moved, expected, atol=0.5 + scale / 2)  # whole input pixels are resized


def test_crop_border_follows_the_paper():
    from keras_centernet.data import augment

    assert [float(augment._crop_border(float(side))) for side in (640, 512, 257, 256, 200, 100)] == [
        128, 128, 128, 64, 64, 32]
