"""`keras-centernet export`: a TensorFlow SavedModel that takes uint8 images and returns decoded detections."""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a TensorFlow SavedModel for serving",
        description=(
            "Write a TensorFlow SavedModel whose serving_default signature takes uint8 images "
            "[batch, height, width, 3] of any size (one size per call), letterboxes them to --image_size "
            "like evaluate, and returns boxes (xyxy, original pixels), scores, labels (contiguous), "
            "class_ids (dataset ids) and num_detections. TensorFlow backend only."
        ),
    )
    parser.add_argument("--weights", required=True, help="saved model (.keras)")
    parser.add_argument("--output", required=True, help="SavedModel folder to write")
    parser.add_argument("--image-size", "--image_size", dest="image_size", type=int, default=512)
    parser.add_argument("--flip", action="store_true", help="bake flip test-time augmentation in")
    parser.set_defaults(func=run)
    return parser


def export_saved_model(model, output, image_size=512):
    """Write `model` as a SavedModel with a `serving_default` signature.

    Signature: `images` uint8 [batch, height, width, 3] -> {"boxes" float32 [batch, K, 4] xyxy original
    pixels (padding -1), "scores" [batch, K], "labels" int32 [batch, K] contiguous (padding -1),
    "class_ids" int32 [batch, K] dataset category ids (padding -1), "num_detections" int32 [batch]}.
    The letterbox is `data.augment.letterbox`, so the detections equal `evaluate`'s and `Detector`'s.
    """
    import keras
    import tensorflow as tf

    from keras_centernet.data.augment import letterbox, letterbox_scale

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("export writes a TensorFlow SavedModel: run it with KERAS_BACKEND=tensorflow")
    if int(image_size) <= 0 or int(image_size) % 32:
        raise ValueError(f"image_size must be a positive multiple of 32, got {image_size}")
    image_size = int(image_size)
    class_ids = [int(i) for i in model.class_ids]

    def serve(images):
        shape = tf.shape(images)
        height, width = shape[1], shape[2]
        inputs = tf.map_fn(
            lambda image: letterbox(tf.cast(image, tf.float32), image_size)[0],
            images,
            fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
        )
        outputs = model.predict_step(inputs)
        scale = letterbox_scale(height, width, image_size)
        limits = tf.cast(tf.stack([width, height, width, height]), tf.float32)
        labels = tf.cast(outputs["labels"], tf.int32)
        valid = labels >= 0
        boxes = tf.clip_by_value(tf.cast(outputs["boxes"], tf.float32) / scale, 0.0, limits)
        lookup = tf.constant(class_ids, tf.int32)
        return {
            "boxes": tf.where(valid[..., None], boxes, -1.0),
            "scores": tf.cast(outputs["scores"], tf.float32),
            "labels": labels,
            "class_ids": tf.where(valid, tf.gather(lookup, tf.maximum(labels, 0)), -1),
            "num_detections": tf.cast(outputs["num_detections"], tf.int32),
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")],
    )
    archive.write_out(str(output), verbose=False)
    return output


def run(args):
    from keras_centernet.inference import load_model, set_flip_test

    model = load_model(args.weights)
    set_flip_test(model, args.flip)
    export_saved_model(model, args.output, image_size=args.image_size)
    print(f"SavedModel: {args.output} (serving_default: uint8 images [batch, height, width, 3])")
    return 0
