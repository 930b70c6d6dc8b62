"""The targets' "image_box" (the real image inside the input, for CenterNet(mask_padding=True)): every image pixel
lies inside it and everything outside it is padding, for the paper's scale crop, the OD API's object crop + pad
(where the random pad counts as image, as the OD API's true image shape) and the evaluation letterbox."""

import io

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow

HEIGHT, WIDTH, SIZE = 100, 130, 64


@pytest.fixture
def grey_records(record_writer):
    """8 records of one flat grey 100 x 130 image (value 200) with one box."""
    from PIL import Image

    from keras_centernet.data import tfrecord

    buffer = io.BytesIO()
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), 200, np.uint8)).save(buffer, format="PNG")
    record = tfrecord.encode_example(buffer.getvalue(), image_format="png", height=HEIGHT, width=WIDTH,
                                     source_id="g", boxes=[[0.2, 0.2, 0.6, 0.7]], labels=[1])  # fmt: skip
    return record_writer("grey.record", [record] * 8)


def _batch(path, **kwargs):
    from keras_centernet.data import build_dataset

    dataset = build_dataset(path, batch_size=8, image_size=SIZE, label_map=[1], seed=5, shuffle_buffer=0,
                            color_jitter=0.0, **kwargs)  # fmt: skip
    images, targets = next(iter(dataset))
    return images.numpy(), targets["image_box"].numpy()


def _inside(box, margin):
    """bool [SIZE, SIZE]: pixels whose centres lie at least `margin` px inside `box` (xyxy)."""
    centres = np.arange(SIZE) + 0.5
    x = (centres >= box[0] + margin) & (centres <= box[2] - margin)
    y = (centres >= box[1] + margin) & (centres <= box[3] - margin)
    return y[:, None] & x[None, :]


def test_scale_crop_image_box_bounds_the_image_pixels(grey_records):
    images, image_boxes = _batch(grey_records, training=True, scale_range=(0.9, 1.4))
    assert image_boxes.shape == (8, 4) and len({tuple(np.round(b, 2)) for b in image_boxes}) > 1
    for image, box in zip(images, image_boxes, strict=True):
        assert 0 <= box[0] < box[2] <= SIZE and 0 <= box[1] < box[3] <= SIZE
        assert (image[_inside(box, 1.0)] > 150).all()  # the grey image, away from its resampled edge
        assert (image[~_inside(box, -1.0)] == 0).all()  # zero padding outside
    assert any((box[2] - box[0]) * (box[3] - box[1]) < SIZE * SIZE - 1 for box in image_boxes)  # some padding


def test_object_crop_image_box_is_the_letterboxed_padded_image(grey_records):
    images, image_boxes = _batch(grey_records, training=True, crop="object", max_pad=60, crop_keep_probability=1.0,
                                 flip_probability=0.0)  # fmt: skip
    for image, box in zip(images, image_boxes, strict=True):
        assert box[0] == 0 and box[1] == 0 and max(box[2], box[3]) == pytest.approx(SIZE)  # top left, longer side
        assert (image[~_inside(box, -1.0)] == 0).all()  # letterbox padding
        grey = image[..., 0] > 150
        rows, cols = np.nonzero(grey)
        assert cols.max() + 1 <= box[2] + 1 and rows.max() + 1 <= box[3] + 1  # the image pixels are inside
    # the random pad is inside the box (the OD API trains it): some box is larger than the bare image's letterbox
    bare = np.array([SIZE, SIZE * HEIGHT / WIDTH])
    assert any(abs(box[3] / box[2] - bare[1] / bare[0]) > 0.02 for box in image_boxes)


def test_evaluation_image_box_is_the_letterboxed_image(grey_records):
    images, image_boxes = _batch(grey_records, training=False)
    np.testing.assert_allclose(image_boxes, np.tile([0.0, 0.0, SIZE, SIZE * HEIGHT / WIDTH], (8, 1)), rtol=1e-5)
    assert (images[:, 50:] == 0).all() and (images[:, :48] > 150).all()
