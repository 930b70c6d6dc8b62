"""A user mistake on any command is one line `keras-centernet CMD: error: ...` and exit status 2; --debug or
KERAS_CENTERNET_DEBUG=1 raises it with its traceback instead, and a real bug is never turned into an error line."""

import numpy as np
import pytest
from PIL import Image

from keras_centernet.cli import main
from keras_centernet.validation import InputError


def _not_a_centernet(path):
    import keras

    keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]).save(path)
    return str(path)


def _mistakes(tmp_path):
    """{command: (arguments with one realistic mistake, text the error line must hold)}."""
    image = tmp_path / "photo.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(image)
    renamed = tmp_path / "notes.keras"
    renamed.write_text("not a model")
    missing = str(tmp_path / "missing")
    out = str(tmp_path / "out")
    return {
        "train": (["--data_dir", missing, "--model_dir", out], f"--data_dir {missing!r}: no such folder"),
        "evaluate": (["--data_dir", str(tmp_path), "--weights", f"{missing}.keras"], "--weights"),
        "detect": (
            ["--weights", _not_a_centernet(tmp_path / "dense.keras"), "--output", out, str(image)],
            "holds a Sequential, not a CenterNet",
        ),
        "export": (["--weights", str(renamed), "--output", out], "is not a valid .keras model file (not a zip"),
        "convert-coco": (
            ["--annotations", f"{missing}.json", "--images", str(tmp_path), "--output", out],
            f"--annotations '{missing}.json': no such file",
        ),
        "convert-voc": (["--annotations", missing, "--output", out], f"--annotations {missing!r}: no such folder"),
        "benchmark": (["--backbone", "tiny", "--image_size", "100"], "--image_size must be a positive multiple of 32"),
    }


def test_each_command_reports_a_mistake_in_one_line(tmp_path, capsys):
    for command, (arguments, text) in _mistakes(tmp_path).items():
        code = main([command, *arguments])
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2, command
        assert len(lines) == 1 and lines[0].startswith(f"keras-centernet {command}: error: "), (command, lines)
        assert text in lines[0], (command, lines[0])


def test_debug_flag_and_variable_raise_the_mistake_with_its_traceback(tmp_path, monkeypatch):
    arguments, _ = _mistakes(tmp_path)["export"]
    with pytest.raises(InputError, match="not a valid .keras model file"):
        main(["--debug", "export", *arguments])
    with pytest.raises(InputError):
        main(["export", *arguments, "--debug"])
    monkeypatch.setenv("KERAS_CENTERNET_DEBUG", "1")
    with pytest.raises(InputError):
        main(["export", *arguments])


def test_debug_variable_off_keeps_the_one_line(tmp_path, monkeypatch, capsys):
    arguments, _ = _mistakes(tmp_path)["export"]
    monkeypatch.setenv("KERAS_CENTERNET_DEBUG", "0")
    assert main(["export", *arguments]) == 2
    assert capsys.readouterr().err.startswith("keras-centernet export: error: ")


def test_a_real_bug_keeps_its_traceback(tmp_path, monkeypatch):
    from keras_centernet.commands import export

    def broken(args):
        raise ValueError("a bug inside the library")

    monkeypatch.setattr(export, "run", broken)
    with pytest.raises(ValueError, match="a bug inside the library"):
        main(["export", "--weights", "w.keras", "--output", str(tmp_path / "o")])
