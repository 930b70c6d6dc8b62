"""`keras-centernet export`: argument parsing over `keras_centernet.export.export_saved_model`."""

import os

from keras_centernet.commands.flags import add_bool


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
    parser.add_argument(
        "--image_size",
        type=int,
        help="letterbox side (default: the size the model was trained at, else 512)",
    )
    add_bool(parser, "--flip", False, "bake flip test-time augmentation in")
    parser.set_defaults(func=run)
    return parser


def run(args):
    from keras_centernet.commands.loading import load_centernet
    from keras_centernet.export import export_saved_model
    from keras_centernet.inference import set_flip_test
    from keras_centernet.validation import check_image_size, check_writable_dir

    if args.image_size is not None:
        check_image_size(args.image_size, "--image_size")
    check_writable_dir(os.path.dirname(os.path.abspath(args.output)), "--output")
    model = load_centernet(args.weights)
    set_flip_test(model, args.flip)
    export_saved_model(model, args.output, image_size=args.image_size)
    print(
        f"SavedModel: {args.output} (serving_default: uint8 images [batch, height, width, 3]; "
        "serving_float32: the same as float32 0..255)"
    )
    return 0
