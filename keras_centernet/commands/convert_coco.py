"""`keras-centernet convert-coco`: COCO instances json + image folder -> sharded TFRecords + label map."""

from keras_centernet.commands.conversion_options import add_writer_arguments, run_conversion


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert-coco",
        help="convert a COCO json + image folder to sharded TFRecords",
        description=(
            "Write OUT/mscoco_label_map.pbtxt and OUT/tfrecords/coco_SPLIT.record-0000i-of-0000N in the TF Object "
            "Detection API schema. Crowd boxes are kept (is_crowd=1), boxes are clipped to the image, zero-area "
            "boxes dropped, images without boxes kept. Every image is fully decoded. Missing, unreadable or truncated "
            "images, images whose size disagrees with the json, unknown category ids and invalid boxes (negative "
            "width or height, NaN or infinite numbers) stop the conversion unless --skip_invalid; a stopped "
            "conversion leaves the split's earlier shards and the label map as they were."
        ),
    )
    parser.add_argument("--annotations", required=True, help="COCO instances json, e.g. instances_train2017.json")
    parser.add_argument("--images", required=True, help="folder with the json's image files, e.g. train2017/")
    add_writer_arguments(
        parser,
        None,
        "number of shards (default: 100 for train, 10 otherwise)",
        "skip invalid images / annotations, count and name them",
    )
    parser.set_defaults(func=run)
    return parser


def run(args):
    from keras_centernet.data.coco import convert_coco
    from keras_centernet.validation import check_dir_exists, check_file_exists

    check_file_exists(args.annotations, "--annotations")
    check_dir_exists(args.images, "--images")

    return run_conversion(convert_coco, args, args.annotations, args.images)
