"""`keras-centernet convert-coco`: COCO instances json + image folder -> sharded TFRecords + label map."""

import sys


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert-coco",
        help="convert a COCO json + image folder to sharded TFRecords",
        description=(
            "Write OUT/mscoco_label_map.pbtxt and OUT/tfrecords/coco_SPLIT.record-0000i-of-0000N in the TF Object "
            "Detection API schema. Crowd boxes are kept (is_crowd=1), boxes are clipped to the image, zero-area "
            "boxes dropped, images without boxes kept. Missing image files and unknown category ids stop the "
            "conversion unless --skip-invalid."
        ),
    )
    parser.add_argument("--annotations", required=True, help="COCO instances json, e.g. instances_train2017.json")
    parser.add_argument("--images", required=True, help="folder with the json's image files, e.g. train2017/")
    parser.add_argument("--output", required=True, help="dataset folder to write (created)")
    parser.add_argument("--split", default="train", help="split name in the shard names (default: train)")
    parser.add_argument(
        "--num-shards", type=int, default=None, help="number of shards (default: 100 for train, 10 otherwise)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="writer processes (default: one per CPU; 1 under 20,000 images)"
    )
    parser.add_argument(
        "--skip-invalid", action="store_true", help="skip missing images / unknown categories and report them"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args):
    from keras_centernet.data.coco import convert_coco
    from keras_centernet.data.conversion import ConversionError

    try:
        summary = convert_coco(
            args.annotations,
            args.images,
            args.output,
            split=args.split,
            num_shards=args.num_shards,
            workers=args.workers,
            skip_invalid=args.skip_invalid,
            progress=not args.no_progress,
        )
    except (ConversionError, ValueError, FileNotFoundError) as error:
        print(f"convert-coco: error: {error}", file=sys.stderr)
        return 1
    print(summary.format())
    return 0
