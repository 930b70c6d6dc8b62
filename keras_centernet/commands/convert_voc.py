"""`keras-centernet convert-voc`: Pascal VOC xml folder -> sharded TFRecords + label map."""

import sys


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert-voc",
        help="convert a Pascal VOC xml folder to sharded TFRecords",
        description=(
            "Write OUT/mscoco_label_map.pbtxt and OUT/tfrecords/coco_SPLIT.record-0000i-of-0000N (the same layout "
            "as convert-coco) from the *.xml files of a folder. Classes: the sorted object names found, ids 1..N, "
            "unless --classes. Images TensorFlow cannot decode (TIFF, ...) are stored as PNG."
        ),
    )
    parser.add_argument("--annotations", required=True, help="folder of VOC *.xml files")
    parser.add_argument("--images", default=None, help="folder of the images (default: --annotations)")
    parser.add_argument("--output", required=True, help="dataset folder to write (created)")
    parser.add_argument("--split", default="train", help="split name in the shard names (default: train)")
    parser.add_argument("--num-shards", type=int, default=1, help="number of shards (default: 1)")
    parser.add_argument("--classes", default=None, help="comma-separated class names in id order (ids 1..N)")
    parser.add_argument(
        "--workers", type=int, default=None, help="writer processes (default: one per CPU; 1 under 20,000 images)"
    )
    parser.add_argument(
        "--skip-invalid", action="store_true", help="skip missing images / unknown classes and report them"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args):
    from keras_centernet.data.conversion import ConversionError
    from keras_centernet.data.voc import convert_voc

    classes = [name.strip() for name in args.classes.split(",") if name.strip()] if args.classes else None
    try:
        summary = convert_voc(
            args.annotations,
            args.images,
            args.output,
            split=args.split,
            num_shards=args.num_shards,
            classes=classes,
            workers=args.workers,
            skip_invalid=args.skip_invalid,
            progress=not args.no_progress,
        )
    except (ConversionError, ValueError, FileNotFoundError) as error:
        print(f"convert-voc: error: {error}", file=sys.stderr)
        return 1
    print(summary.format())
    return 0
