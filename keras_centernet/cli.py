"""`keras-centernet` command line: one sub-command per module in `keras_centernet.commands`.

Each command module exposes `add_parser(subparsers)` (registers its flags, sets `func`) and keeps its
heavy imports inside the function it runs, so `keras-centernet --help` stays fast.
"""

import argparse
import importlib
import os
import sys

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) hides the output users need; override to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COMMANDS = (
    "train",
    "evaluate",
    "detect",
    "export",
    "convert_coco",
    "convert_voc",
    "benchmark",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-centernet",
        description="Train, evaluate, run and export CenterNet object detectors (Keras 3).",
    )
    from keras_centernet import __version__

    parser.add_argument("--version", action="version", version=f"keras-centernet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"keras_centernet.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"keras_centernet.commands.{name}":
                raise
            continue  # command not built yet
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from keras_centernet.validation import InputError

    try:
        return args.func(args) or 0
    except InputError as error:  # a user mistake found before work started: one line, no traceback
        print(f"{parser.prog} {args.command.replace('_', '-')}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
