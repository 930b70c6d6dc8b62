"""Flags and error handling shared by the dataset converters (`convert-coco`, `convert-voc`)."""


from keras_centernet.commands.flags import add_bool


def add_writer_arguments(parser, num_shards_default, num_shards_help, invalid_help):
    """--output, --split, --num_shards, --workers, --skip_invalid, --progress (--no_progress turns the bar off)."""
    parser.add_argument("--output", required=True, help="dataset folder to write (created)")
    parser.add_argument("--split", default="train", help="split name in the shard names (default: train)")
    parser.add_argument("--num_shards", type=int, default=num_shards_default, help=num_shards_help)
    parser.add_argument(
        "--workers", type=int, default=None, help="writer processes (default: one per CPU; 1 under 20,000 images)"
    )
    add_bool(parser, "--skip_invalid", False, invalid_help)
    add_bool(parser, "--progress", True, "progress bar (--no_progress: none)")


def run_conversion(convert, args, *inputs, **options):
    """Calls `convert(*inputs, output, split=..., num_shards=..., workers=..., skip_invalid=..., progress=...,
    **options)`, prints its summary; bad input becomes an InputError, which `cli.main` prints as one line
    `keras-centernet CMD: error: ...` (exit 2) like every command's."""
    from keras_centernet.data.conversion import ConversionError
    from keras_centernet.validation import InputError

    try:
        summary = convert(
            *inputs,
            args.output,
            split=args.split,
            num_shards=args.num_shards,
            workers=args.workers,
            skip_invalid=args.skip_invalid,
            progress=args.progress,
            **options,
        )
    except (ConversionError, ValueError, FileNotFoundError) as error:
        raise InputError(str(error)) from error
    print(summary.format())
    return 0
