"""`keras-centernet` command line: one sub-command per module in `keras_centernet.commands`.

Each command module exposes `add_parser(subparsers)` (registers its --snake_case flags, sets `func`) and keeps
its heavy imports inside the function it runs, so `--help` and `--version` import neither Keras nor TensorFlow.
Every command parses with `commands.flags.CliParser` (one flag convention), starts quietly
(`commands.startup.quiet_start`) and reports a user mistake (`validation.InputError`) as one line
`keras-centernet CMD: error: ...` with exit status 2; `--debug` or KERAS_CENTERNET_DEBUG=1 shows the traceback
and TensorFlow's start-up log instead.
"""

import argparse
import importlib
import sys

from keras_centernet._version import __version__
from keras_centernet.commands.flags import CONVENTION, CliParser, add_bool

COMMANDS = (
    "train",
    "evaluate",
    "detect",
    "export",
    "convert_coco",
    "convert_voc",
    "benchmark",
    "recipes",
)
DEBUG_HELP = "show tracebacks and TensorFlow's start-up log (also: KERAS_CENTERNET_DEBUG=1)"


def build_parser():
    """The `keras-centernet` parser; `parser.commands` maps each command name to its sub-parser."""
    parser = CliParser(
        prog="keras-centernet",
        description="Train, evaluate, run and export CenterNet object detectors (Keras 3).",
        epilog=CONVENTION,
    )
    parser.add_argument("--version", action="version", version=f"keras-centernet {__version__}")
    add_bool(parser, "--debug", False, DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = {}
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"keras_centernet.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"keras_centernet.commands.{name}":
                raise
            continue  # command not built yet
        command = module.add_parser(subparsers)
        add_bool(command, "--debug", argparse.SUPPRESS, DEBUG_HELP)  # also accepted after the command
        parser.commands[command.prog.split()[-1]] = command
    return parser


def main(argv=None):
    from keras_centernet.commands.startup import debug_requested, quiet_start
    from keras_centernet.validation import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = debug_requested(args)
    try:
        with quiet_start(debug, args.command):  # stderr goes through a filter and a log file until the command returns
            return args.func(args) or 0
    except InputError as error:  # a user mistake: one line, unless --debug asks for the traceback
        if debug:
            raise
        print(f"{parser.prog} {args.command.replace('_', '-')}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
