"""`keras-centernet convert-voc`: Pascal VOC xml folder -> sharded TFRecords + label map."""

from keras_centernet.commands.conversion_options import add_writer_arguments, run_conversion


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert-voc",
        help="convert a Pascal VOC xml folder to sharded TFRecords",
        description=(
            "Write OUT/mscoco_label_map.pbtxt and OUT/tfrecords/coco_SPLIT.record-0000i-of-0000N (the same layout "
            "as convert-coco) from the *.xml files of a folder. Classes: the sorted object names found, ids 1..N, "
            "unless --classes. Images TensorFlow cannot decode (TIFF, ...) are stored as PNG. Missing, unreadable or "
            "truncated images, unknown classes and invalid boxes (xmax < xmin, ymax < ymin, NaN) stop the conversion "
            "unless --skip_invalid; a stopped conversion leaves the split's earlier shards as they were."
        ),
    )
    parser.add_argument("--annotations", required=True, help="folder of VOC *.xml files")
    parser.add_argument("--images", default=None, help="folder of the images (default: --annotations)")
    parser.add_argument("--classes", default=None, help="comma-separated class names in id order (ids 1..N)")
    add_writer_arguments(
        parser, 1, "number of shards (default: 1)", "skip invalid images / objects, count and name them"
    )
    parser.set_defaults(func=run)
    return parser


def run(args):
    from keras_centernet.data.voc import convert_voc
    from keras_centernet.validation import check_dir_exists

    check_dir_exists(args.annotations, "--annotations")
    if args.images:
        check_dir_exists(args.images, "--images")

    classes = [name.strip() for name in args.classes.split(",") if name.strip()] if args.classes else None
    return run_conversion(convert_voc, args, args.annotations, args.images, classes=classes)
