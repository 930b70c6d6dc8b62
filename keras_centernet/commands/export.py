"""`keras-centernet export`: a TensorFlow SavedModel that takes uint8 images and returns decoded detections."""

import os


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a TensorFlow SavedModel for serving",
        description=(
            "Write a TensorFlow SavedModel whose serving_default signature takes uint8 images "
            "[batch, height, width, 3] of any size (one size per call), letterboxes them to --image_size "
            "like evaluate, and returns boxes (xyxy, original pixels), scores, labels (contiguous), "
            "class_ids (dataset ids) and num_detections. A second signature, serving_float32, takes the same "
            "images as float32 0..255. Images with other than 3 channels fail with a message naming this rule. "
            "TensorFlow backend only."
        ),
    )
    parser.add_argument("--weights", required=True, help="saved model (.keras)")
    parser.add_argument("--output", required=True, help="SavedModel folder to write")
    parser.add_argument("--image-size", "--image_size", dest="image_size", type=int, default=512)
    parser.add_argument("--flip", action="store_true", help="bake flip test-time augmentation in")
    parser.set_defaults(func=run)
    return parser


IMAGES_RULE = (
    "images must be [batch, height, width, 3] RGB, height and width >= 1 "
    "(uint8 for serving_default, float32 0..255 for serving_float32)"
)


def _serving_function(model, image_size):
    """images [batch, height, width, channels] (any numeric dtype, 0..255) -> decoded detections in original pixels.

    A channel count other than 3 or an empty image fails with `IMAGES_RULE` (InvalidArgumentError) instead of a
    shape error deep in the graph.
    """
    import tensorflow as tf

    from keras_centernet.data.augment import letterbox, letterbox_scale

    class_ids = tf.constant([int(i) for i in model.class_ids], tf.int32)

    def serve(images):
        shape = tf.shape(images)
        checks = [
            tf.debugging.assert_equal(shape[3], 3, message=IMAGES_RULE),
            tf.debugging.assert_positive(shape[1] * shape[2], message=IMAGES_RULE),
        ]
        with tf.control_dependencies(checks):
            images = tf.ensure_shape(tf.cast(images, tf.float32), [None, None, None, 3])
        height, width = shape[1], shape[2]
        inputs = tf.map_fn(
            lambda image: letterbox(image, image_size)[0],
            images,
            fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
        )
        outputs = model.predict_step(inputs)
        scale = letterbox_scale(height, width, image_size)
        limits = tf.cast(tf.stack([width, height, width, height]), tf.float32)
        labels = tf.cast(outputs["labels"], tf.int32)
        valid = labels >= 0
        boxes = tf.clip_by_value(tf.cast(outputs["boxes"], tf.float32) / scale, 0.0, limits)
        return {
            "boxes": tf.where(valid[..., None], boxes, -1.0),
            "scores": tf.cast(outputs["scores"], tf.float32),
            "labels": labels,
            "class_ids": tf.where(valid, tf.gather(class_ids, tf.maximum(labels, 0)), -1),
            "num_detections": tf.cast(outputs["num_detections"], tf.int32),
        }

    return serve


def export_saved_model(model, output, image_size=512):
    """Write `model` as a SavedModel with `serving_default` (uint8 images) and `serving_float32` signatures.

    Signature: `images` uint8 (or float32 0..255) [batch, height, width, 3] -> {"boxes" float32 [batch, K, 4] xyxy
    original pixels (padding -1), "scores" [batch, K], "labels" int32 [batch, K] contiguous (padding -1),
    "class_ids" int32 [batch, K] dataset category ids (padding -1), "num_detections" int32 [batch]}.
    The letterbox is `data.augment.letterbox`, so the detections equal `evaluate`'s and `Detector`'s. The folder
    is written beside `output` and renamed into place, so a crash leaves the previous export intact.
    """
    import keras
    import tensorflow as tf

    from keras_centernet.validation import check_image_size

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("export writes a TensorFlow SavedModel: run it with KERAS_BACKEND=tensorflow")
    serve = _serving_function(model, check_image_size(image_size, "image_size"))
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, dtype in (("serving_default", tf.uint8), ("serving_float32", tf.float32)):
        spec = tf.TensorSpec([None, None, None, None], dtype, name="images")  # channels checked in the graph
        archive.add_endpoint(name, serve, input_signature=[spec])
    _write_folder_atomically(str(output), lambda temporary: archive.write_out(temporary, verbose=False))
    return output


def _write_folder_atomically(path, write):
    """`write(temporary folder)`, then swap it in for `path` (the old folder is removed only after the rename)."""
    import os
    import shutil

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


def run(args):
    from keras_centernet.inference import load_model, set_flip_test
    from keras_centernet.validation import check_image_size, check_writable_dir

    check_image_size(args.image_size, "--image_size")
    check_writable_dir(os.path.dirname(os.path.abspath(args.output)), "--output")
    model = load_model(args.weights)
    set_flip_test(model, args.flip)
    export_saved_model(model, args.output, image_size=args.image_size)
    print(
        f"SavedModel: {args.output} (serving_default: uint8 images [batch, height, width, 3]; "
        "serving_float32: the same as float32 0..255)"
    )
    return 0
