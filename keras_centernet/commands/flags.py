"""One flag convention for every command: `--snake_case` flags (what `--help` shows), `--kebab-case` accepted as
an alias, and booleans that take `--flag`, `--flag=true|false`, `--flag true|false`, `--noflag` or `--no-flag`.

Commands declare their flags once, in snake_case, with `add_bool` for booleans; `CliParser` (the class of the
`keras-centernet` parser and all its sub-parsers) rewrites the other spellings before argparse reads them.
No TensorFlow or Keras here: `keras-centernet --help` imports only this and the command modules.
"""

import argparse

TRUE_WORDS = ("1", "true", "yes", "y", "on")
FALSE_WORDS = ("0", "false", "no", "n", "off")
CONVENTION = (
    "Flags are --snake_case; the --kebab-case spelling is accepted too. Booleans take --flag, --flag=true|false, "
    "--noflag or --no-flag."
)


def str2bool(value):
    """argparse type: true/false/1/0/yes/no/on/off (any case) -> bool."""
    if isinstance(value, bool):
        return value
    lowered = value.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {value!r}")


class BooleanFlag(argparse.Action):
    """A boolean flag: bare `--flag` is True, `--flag=VALUE` is `str2bool(VALUE)` (see `CliParser` for the rest)."""

    def __init__(self, option_strings, dest, default=False, help=None, **kwargs):
        kwargs.update(nargs="?", const=True, type=str2bool, metavar="BOOL")
        super().__init__(option_strings, dest, default=default, help=help, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)


def add_bool(container, name, default, help_text):
    """Adds boolean flag `name` (`--snake_case`) to a parser or argument group; the help says the default."""
    if default is not argparse.SUPPRESS:
        help_text = f"{help_text} (default: {str(bool(default)).lower()})"
    return container.add_argument(name, action=BooleanFlag, default=default, help=help_text)


def _snake(token):
    """`--kebab-case[=value]` -> `--kebab_case[=value]` (the value untouched)."""
    name, equals, value = token.partition("=")
    return "--" + name[2:].replace("-", "_") + equals + value


class CliParser(argparse.ArgumentParser):
    """ArgumentParser that reads every spelling of the convention (module docstring) as its --snake_case flag."""

    def parse_known_args(self, args=None, namespace=None):
        import sys

        arguments = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self.normalize(arguments), namespace)

    def _option_kinds(self):
        """{option string: is boolean} of this parser's flags."""
        # argparse has no public list of a parser's actions; `_actions` is stable since Python 3.2.
        return {name: isinstance(action, BooleanFlag) for action in self._actions for name in action.option_strings}

    def normalize(self, arguments):
        """The arguments with kebab-case flags in snake_case and every boolean as `--flag=true|false`."""
        kinds, result, rest = self._option_kinds(), [], list(arguments)
        while rest:
            token = rest.pop(0)
            if token == "--":
                return result + [token] + rest
            if token.startswith("--"):
                token = _canonical(token, kinds)
                if kinds.get(token):  # a bare boolean: take a following true/false word, else true
                    token += "=" + (rest.pop(0) if rest and rest[0].lower() in TRUE_WORDS + FALSE_WORDS else "true")
            result.append(token)
        return result


def _canonical(token, kinds):
    """`token` as this parser knows it: kebab-case -> snake_case, `--noflag`/`--no-flag` -> `--flag=false`;
    unknown flags are returned as typed, so argparse names them in its error."""
    if token.partition("=")[0] in kinds:
        return token
    snake = _snake(token)
    name, equals, _ = snake.partition("=")
    if name in kinds:
        return snake
    for prefix in ("--no_", "--no"):
        positive = "--" + name[len(prefix) :]
        if name.startswith(prefix) and kinds.get(positive) and not equals:
            return f"{positive}=false"
    return token
