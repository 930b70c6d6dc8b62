"""`export_saved_model`: a TensorFlow SavedModel that takes uint8 images and returns decoded detections.

The serving function letterboxes with the model's `preprocessing.Letterbox` (image and inverse box map), so its
detections equal `evaluate`'s and `Detector`'s. TensorFlow backend only.
"""

import os
import shutil

IMAGES_RULE = (
    "images must be [batch, height, width, 3] RGB, height and width >= 1 "
    "(uint8 for serving_default, float32 0..255 for serving_float32)"
)


def _checked_images(images):
    """images as float32 [batch, height, width, 3]; another channel count or an empty image fails with
    `IMAGES_RULE` (InvalidArgumentError) instead of a shape error deep in the graph."""
    import tensorflow as tf

    shape = tf.shape(images)
    checks = [
        tf.debugging.assert_equal(shape[3], 3, message=IMAGES_RULE),
        tf.debugging.assert_positive(shape[1] * shape[2], message=IMAGES_RULE),
    ]
    with tf.control_dependencies(checks):
        return tf.ensure_shape(tf.cast(images, tf.float32), [None, None, None, 3])


def serving_function(model, letterbox):
    """images [batch, height, width, channels] (any numeric dtype, 0..255) -> decoded detections in original
    pixels, through `letterbox` (a `preprocessing.Letterbox`)."""
    import tensorflow as tf

    size = letterbox.image_size

    def serve(images):
        images = _checked_images(images)
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        inputs = tf.map_fn(
            lambda image: letterbox.letterbox_image_tf(image)[0],
            images,
            fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32),
        )
        outputs = model.predict_step(inputs)
        scale = letterbox.scale(height, width)
        labels = tf.cast(outputs["labels"], tf.int32)
        valid = labels >= 0
        boxes = tf.cast(model.boxes_to_xyxy(outputs["boxes"], (size, size)), tf.float32)  # any bounding_box_format
        boxes = letterbox.boxes_to_original(boxes, scale, height, width)
        return {
            "boxes": tf.where(valid[..., None], boxes, -1.0),
            "scores": tf.cast(outputs["scores"], tf.float32),
            "labels": labels,
            "class_ids": letterbox.class_ids_of(labels),
            "num_detections": tf.cast(outputs["num_detections"], tf.int32),
        }

    return serve


def export_saved_model(model, output, image_size=None):
    """Write `model` as a SavedModel with `serving_default` (uint8 images) and `serving_float32` signatures.

    Signature: `images` uint8 (or float32 0..255) [batch, height, width, 3] -> {"boxes" float32 [batch, K, 4] xyxy
    original pixels (padding -1), "scores" [batch, K], "labels" int32 [batch, K] contiguous (padding -1),
    "class_ids" int32 [batch, K] dataset category ids (padding -1), "num_detections" int32 [batch]}.
    `image_size`: the letterbox side (default the model's own `image_size`, else 512). The folder is written
    beside `output` and renamed into place, so a crash leaves the previous export intact.
    """
    import keras
    import tensorflow as tf

    from keras_centernet.preprocessing import Letterbox
    from keras_centernet.validation import check_image_size

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("export writes a TensorFlow SavedModel: run it with KERAS_BACKEND=tensorflow")
    if image_size is not None:
        image_size = check_image_size(image_size, "image_size")
    serve = serving_function(model, Letterbox.for_model(model, image_size))
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, dtype in (("serving_default", tf.uint8), ("serving_float32", tf.float32)):
        spec = tf.TensorSpec([None, None, None, None], dtype, name="images")  # channels checked in the graph
        archive.add_endpoint(name, serve, input_signature=[spec])
    _write_folder_atomically(str(output), lambda temporary: archive.write_out(temporary, verbose=False))
    return output


def _write_folder_atomically(path, write):
    """`write(temporary folder)`, then swap it in for `path` (the old folder is removed only after the rename)."""
    from keras_centernet.atomic_files import temporary_name

    temporary, previous = temporary_name(path), temporary_name(path)
    try:
        write(temporary)
        if os.path.isdir(path):
            os.replace(path, previous)
        os.replace(temporary, path)
    finally:
        for leftover in (temporary, previous):
            shutil.rmtree(leftover, ignore_errors=True)
