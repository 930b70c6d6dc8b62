"""One flag convention: every command's --snake_case flag parses the same as its --kebab-case spelling, every
boolean takes every form, help shows the snake_case spelling and the README/docs command lines use it."""

import argparse
import pathlib
import re

import pytest

from keras_centernet.cli import build_parser
from keras_centernet.commands.flags import BooleanFlag

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARSER = build_parser()
COMMANDS = sorted(PARSER.commands)
FORMS = {  # boolean spelling -> value, for a flag named --big_flag
    "--big_flag": True,
    "--big_flag=true": True,
    "--big_flag=False": False,
    "--big_flag true": True,
    "--big_flag false": False,
    "--big_flag 0": False,
    "--nobig_flag": False,
    "--no_big_flag": False,
    "--no-big_flag": False,
    "--no-big-flag": False,
    "--big-flag": True,
    "--big-flag=false": False,
}


def _flags(parser):
    """The parser's --flag actions (help, version and debug left out)."""
    return [a for a in parser._actions if a.option_strings and a.option_strings[0] not in ("-h", "--debug")]


def _sample(action):
    """A value string this action accepts."""
    if action.choices:
        return str(list(action.choices)[0])
    name = getattr(action.type, "__name__", "")
    return {"int": "64", "float": "0.5", "float_pair": "1,2"}.get(name, "x")


def _required(parser, skip=None):
    """Arguments that satisfy the parser's required flags and positionals (except `skip`)."""
    arguments = []
    for action in parser._actions:
        if action is skip:
            continue
        if action.required and action.option_strings:
            arguments += [action.option_strings[0], _sample(action)]
    positionals = [a for a in parser._actions if not a.option_strings and a.dest != "help"]
    return arguments + ["x" for action in positionals if action.nargs in ("+", None)]


def _parse(command, arguments):
    namespace = vars(PARSER.commands[command].parse_args(arguments))
    namespace.pop("func", None)
    return namespace


def test_every_command_has_snake_case_flags_only():
    assert {"train", "evaluate", "detect", "export", "convert-coco", "convert-voc", "benchmark"} <= set(COMMANDS)
    for command in COMMANDS:
        for action in _flags(PARSER.commands[command]):
            assert action.option_strings == [action.option_strings[0]], (command, action.option_strings)
            assert "-" not in action.option_strings[0][2:], f"{command} {action.option_strings[0]}: not snake_case"


@pytest.mark.parametrize("command", COMMANDS)
def test_kebab_case_parses_like_snake_case(command):
    parser = PARSER.commands[command]
    checked = 0
    for action in _flags(parser):
        snake = action.option_strings[0]
        kebab = "--" + snake[2:].replace("_", "-")
        value = [] if isinstance(action, BooleanFlag) else [_sample(action)]
        base = _required(parser, skip=action)
        assert _parse(command, base + [kebab, *value]) == _parse(command, base + [snake, *value]), (command, kebab)
        expected = True if isinstance(action, BooleanFlag) else action.type(value[0]) if action.type else value[0]
        assert _parse(command, base + [kebab, *value])[action.dest] == expected
        checked += "_" in snake
    assert checked or command in ("recipes",), f"{command}: no multi-word flag checked"


@pytest.mark.parametrize("command", COMMANDS)
def test_booleans_take_every_form(command):
    for action in _flags(PARSER.commands[command]):
        if not isinstance(action, BooleanFlag):
            continue
        snake, base = action.option_strings[0], _required(PARSER.commands[command])
        assert _parse(command, base)[action.dest] is action.default
        for form, expected in FORMS.items():
            spelled = form.replace("big_flag", snake[2:]).replace("big-flag", snake[2:].replace("_", "-"))
            assert _parse(command, base + spelled.split())[action.dest] is expected, (command, spelled)
        with pytest.raises(SystemExit):
            _parse(command, base + [f"{snake}=maybe"])


def test_every_command_has_a_boolean_where_the_issue_named_one():
    booleans = {c: {a.dest for a in _flags(PARSER.commands[c]) if isinstance(a, BooleanFlag)} for c in COMMANDS}
    assert {"flip"} <= booleans["detect"] & booleans["evaluate"] & booleans["export"]
    assert {"use_gpu", "use_amp", "use_horovod", "pca_lighting"} <= booleans["train"]
    assert {"progress", "skip_invalid"} <= booleans["convert-coco"] & booleans["convert-voc"]


def test_old_spellings_keep_working():
    args = PARSER.parse_args(["train", "--data_dir", "d", "--model_dir", "m", "--use_gpu", "false", "--use_amp"])
    assert args.use_gpu is False and args.use_amp is True
    args = PARSER.parse_args(["convert-coco", "--annotations", "a.json", "--images", "i", "--output", "o",
                              "--num-shards", "3", "--skip-invalid", "--no-progress"])  # fmt: skip
    assert (args.num_shards, args.skip_invalid, args.progress) == (3, True, False)
    args = PARSER.parse_args(["detect", "--weights", "w", "--output", "o", "--score-threshold", "0.1", "--flip", "a"])
    assert (args.score_threshold, args.flip, args.inputs) == (0.1, True, ["a"])  # a bare --flip leaves IMAGES alone


def test_debug_is_accepted_before_and_after_the_command():
    assert PARSER.parse_args(["--debug", "export", "--weights", "w", "--output", "o"]).debug is True
    assert PARSER.parse_args(["export", "--weights", "w", "--output", "o", "--debug"]).debug is True
    assert PARSER.parse_args(["export", "--weights", "w", "--output", "o"]).debug is False


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_the_snake_case_spelling(command):
    text = PARSER.commands[command].format_help()
    for action in _flags(PARSER.commands[command]):
        assert action.option_strings[0] in text
    assert not re.search(r"--[a-z0-9]+-[a-z0-9-]+", text), re.search(r"--[a-z0-9]+-[a-z0-9-]+", text)


def _documented_command_lines():
    """(file, command, flags) of every `keras-centernet CMD ...` line (with its continuations) in README/docs."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text().replace("\\\n", " ")
        for match in re.finditer(r"keras-centernet ([a-z-]+)([^\n`|]*)", text):
            if match.group(1) in PARSER.commands:
                yield path.name, match.group(1), re.findall(r"(?<![\w-])--[a-zA-Z][\w-]*", match.group(2))


def test_readme_and_docs_spell_flags_as_help_does():
    lines = list(_documented_command_lines())
    assert len(lines) > 20
    for name, command, flags in lines:
        actions = PARSER.commands[command]._actions
        known = {s for a in actions for s in a.option_strings} | {"--help"}
        known |= {f"--no{p}{a.dest}" for a in actions if isinstance(a, BooleanFlag) for p in ("", "_")}
        for flag in flags:
            assert flag in known, f"{name}: keras-centernet {command} {flag}: not spelled as in --help"


def test_boolean_value_error_names_the_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        PARSER.parse_args(["export", "--weights", "w", "--output", "o", "--flip=maybe"])
    assert exit_info.value.code == 2
    assert "argument --flip: expected a boolean (true/false), got 'maybe'" in capsys.readouterr().err


def test_the_top_level_help_states_the_convention():
    assert "--kebab-case spelling is accepted" in " ".join(PARSER.format_help().split())
    assert isinstance(PARSER.commands["train"], argparse.ArgumentParser)
