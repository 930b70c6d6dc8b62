"""`Letterbox`: the one preprocessing object of a CenterNet (input size, letterbox both ways, class map).

The letterbox resizes an image by ``scale = image_size / max(height, width)`` (computed in float32) keeping its
aspect ratio, places it at the top-left of an ``[image_size, image_size, 3]`` canvas and pads bottom/right with
zeros; a point p of the original lands at ``p * scale``. Boxes go forward with ``boxes_to_input`` and back with
``boxes_to_original`` (the only inverse in the package: `Detector`, COCO evaluation and the exported SavedModel
call it; the tf.data pipeline maps its targets forward with ``boxes_to_input``). Both take numpy arrays or
TensorFlow tensors (plain arithmetic; clipping with the caller's library), so the same code maps boxes in a
tf.data graph, a SavedModel and numpy.

The image resize exists twice because inference runs without TensorFlow: `letterbox_image` (numpy) reproduces
`letterbox_image_tf` (``data.augment.resample``, ``tf.image.crop_and_resize``) to float32 rounding
(tests/test_inference.py pins it). The class map turns contiguous labels 0..C-1 into dataset category ids and
names. Numpy and Keras only at import time.
"""

import keras
import numpy as np

#: Input side of a model that does not know its own (saved before models carried it).
DEFAULT_IMAGE_SIZE = 512


def _is_tensorflow(value):
    return type(value).__module__.startswith("tensorflow")


def _per_image(value, boxes):
    """``value`` (scalar or [B] for boxes [B, K, 4]) shaped to broadcast against ``boxes`` [..., 4]."""
    if _is_tensorflow(boxes) or _is_tensorflow(value):
        import tensorflow as tf

        value = tf.cast(value, boxes.dtype)
        ones = tf.ones([boxes.shape.rank - value.shape.rank], tf.int32)
        return tf.reshape(value, tf.concat([tf.shape(value), ones], 0))
    value = np.asarray(value, boxes.dtype)
    return value.reshape(value.shape + (1,) * (boxes.ndim - value.ndim))


def letterbox_scale(height, width, image_size):
    """``image_size / max(height, width)`` in float32: a python float for ints, a float32 tensor for tensors."""
    if _is_tensorflow(height) or _is_tensorflow(width):
        import tensorflow as tf

        return tf.cast(image_size, tf.float32) / tf.cast(tf.maximum(height, width), tf.float32)
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    return float(np.float32(image_size) / np.float32(max(height, width)))


def boxes_to_input(boxes, scale):
    """Boxes [..., 4] xyxy in original pixels -> letterboxed input pixels (``boxes * scale``; scale scalar or
    [B] for boxes [B, K, 4]). Numpy arrays (cast to float64) or tensors (their dtype)."""
    boxes = boxes if _is_tensorflow(boxes) else np.asarray(boxes, np.float64)
    return boxes * _per_image(scale, boxes)


def boxes_to_original(boxes, scale, height=None, width=None):
    """Boxes [..., 4] xyxy in letterboxed input pixels -> original pixels (``boxes / scale``), clipped to
    ``[0, width] x [0, height]`` when both are given. ``scale``, ``height``, ``width``: scalars, or [B] for
    boxes [B, K, 4]. Numpy arrays (cast to float64) or tensors (their dtype). The only letterbox inverse."""
    boxes = boxes if _is_tensorflow(boxes) else np.asarray(boxes, np.float64)
    boxes = boxes / _per_image(scale, boxes)
    if height is None or width is None:
        return boxes
    sides = [_per_image(side, boxes) for side in (width, height, width, height)]
    if _is_tensorflow(boxes):
        import tensorflow as tf

        return tf.clip_by_value(boxes, tf.zeros_like(boxes), tf.concat(sides, axis=-1))
    return np.clip(boxes, 0.0, np.concatenate(sides, axis=-1))


def _sample_grid(out_size, in_size, scale):
    """Bilinear sample positions of ``augment.resample`` along one axis (float32, as tf.image.crop_and_resize).

    Output pixel i samples the input at ``(i + 0.5) / scale - 0.5``; samples outside [0, in_size - 1] are
    padding. Returns (valid bool [out], low int [out], high int [out], fraction float32 [out]).
    """
    f32 = np.float32
    scale = f32(scale)
    start = f32(0.5) / scale - f32(0.5)
    end = start + (f32(out_size) - f32(1)) / scale
    extent = f32(max(in_size - 1, 1))
    first, last = start / extent, end / extent
    step = (last - first) * f32(in_size - 1) / f32(max(out_size - 1, 1))
    positions = first * f32(in_size - 1) + np.arange(out_size, dtype=f32) * step
    valid = (positions >= 0) & (positions <= f32(in_size - 1))
    low = np.floor(positions)
    fraction = (positions - low).astype(f32)
    low = low.astype(np.int64).clip(0, in_size - 1)
    high = np.ceil(positions).astype(np.int64).clip(0, in_size - 1)
    return valid, low, high, fraction


@keras.saving.register_keras_serializable(package="keras_centernet")
class Letterbox:
    """Input size, letterbox both ways and the class map of a CenterNet; travels in the model's config.

    Args:
      image_size: side of the square model input in pixels (a multiple of 32).
      class_ids: dataset category id of each contiguous class 0..C-1 (e.g. COCO's 80 ids in 1..90).
      class_names: their names (default: the ids as strings).
    """

    def __init__(self, image_size=DEFAULT_IMAGE_SIZE, class_ids=(), class_names=None):
        self.image_size = int(image_size)
        self.class_ids = [int(i) for i in class_ids]
        self.class_names = [str(i) for i in self.class_ids] if class_names is None else [str(n) for n in class_names]
        if len(self.class_names) != len(self.class_ids):
            raise ValueError(f"{len(self.class_names)} class_names for {len(self.class_ids)} class_ids")

    @classmethod
    def for_model(cls, model, image_size=None):
        """The letterbox of ``model`` at ``image_size`` (default: the model's own size, else 512)."""
        image_size = image_size or getattr(model, "image_size", None) or DEFAULT_IMAGE_SIZE
        return cls(image_size, model.class_ids, getattr(model, "class_names", None))

    @property
    def num_classes(self):
        return len(self.class_ids)

    def scale(self, height, width):
        """Letterbox scale of a height x width image (see `letterbox_scale`)."""
        return letterbox_scale(height, width, self.image_size)

    boxes_to_input = staticmethod(boxes_to_input)
    boxes_to_original = staticmethod(boxes_to_original)

    def letterbox_image(self, image):
        """uint8 [height, width, 3] numpy -> (float32 [S, S, 3] in 0..255, scale); the twin of the tf version."""
        height, width = image.shape[:2]
        scale = self.scale(height, width)
        valid_y, low_y, high_y, frac_y = _sample_grid(self.image_size, height, scale)
        valid_x, low_x, high_x, frac_x = _sample_grid(self.image_size, width, scale)
        pixels = np.asarray(image, np.float32)
        rows_low, rows_high = pixels[low_y], pixels[high_y]
        frac_x = frac_x[None, :, None]
        top = rows_low[:, low_x] + (rows_low[:, high_x] - rows_low[:, low_x]) * frac_x
        bottom = rows_high[:, low_x] + (rows_high[:, high_x] - rows_high[:, low_x]) * frac_x
        canvas = top + (bottom - top) * frac_y[:, None, None]
        canvas *= (valid_y[:, None] & valid_x[None, :])[..., None]
        return canvas.astype(np.float32), scale

    def letterbox_image_tf(self, image):
        """TensorFlow image [height, width, 3] (any dtype, 0..255) -> (float32 [S, S, 3], float32 scale)."""
        import tensorflow as tf

        from keras_centernet.data.augment import resample

        shape = tf.shape(image)
        scale = self.scale(shape[0], shape[1])
        return resample(image, tf.zeros([2]), scale, self.image_size), scale

    def class_ids_of(self, labels):
        """Contiguous labels (int array, any shape; < 0 is padding) -> dataset category ids (padding -1).
        A label >= num_classes raises ValueError (numpy) or fails in the gather (tensors)."""
        if _is_tensorflow(labels):
            import tensorflow as tf

            ids = tf.constant(self.class_ids, labels.dtype)
            return tf.where(labels >= 0, tf.gather(ids, tf.maximum(labels, 0)), -1)
        labels = np.asarray(labels).astype(np.int64)
        if labels.size and labels.max() >= self.num_classes:
            raise ValueError(
                f"detection label {labels.max()} has no category id: class_ids has {self.num_classes} entries"
            )
        return np.where(labels >= 0, np.asarray(self.class_ids, np.int64)[np.maximum(labels, 0)], -1)

    def class_names_of(self, labels):
        """Contiguous labels (ints >= 0) -> list of class names."""
        return [self.class_names[int(label)] for label in labels]

    def label_table(self):
        """tf lookup table: dataset category id (int32) -> contiguous label, -1 for ids not in the map."""
        import tensorflow as tf

        return tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.class_ids, tf.int32), tf.range(self.num_classes, dtype=tf.int32), tf.int32, tf.int32
            ),
            default_value=-1,
        )

    def get_config(self):
        return {"image_size": self.image_size, "class_ids": list(self.class_ids), "class_names": list(self.class_names)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
