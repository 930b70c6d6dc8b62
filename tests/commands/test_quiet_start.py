"""A quiet start: no TensorFlow, CUDA or absl start-up line in any command's output (they go to the command's log
file: tests/commands/test_stderr_log.py tests what still shows), and `--help`/`--version` without Keras or
TensorFlow (their time: benchmarks/cli_startup.py).

The commands run as subprocesses through the installed console script's module, `keras_centernet_command`, which
imports the package lazily (KERAS_CENTERNET_LAZY_IMPORT=1) so --help needs no Keras and every command registers the
package's classes inside its quiet start.
"""

import glob
import os
import re
import subprocess
import sys

import pytest

from keras_centernet.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOTSTRAP = """
import os, sys
os.environ["KERAS_CENTERNET_LAZY_IMPORT"] = "1"  # what keras_centernet_command.main does before its import
"""
CHATTER = re.compile(
    r"Could not find cuda drivers|cuInit|oneDNN custom operations|absl::InitializeLog|cpu_feature_guard|"
    r"TensorFlow binary is optimized|^[IWEF]\d{4} \d\d:\d\d:\S+\s+\d+ \S+:\d+\]",
    re.M,
)
BACKENDS = ("tensorflow", "keras", "jax", "torch")


def _env():
    hidden = ("TF_CPP_MIN_LOG_LEVEL", "KERAS_CENTERNET_DEBUG")  # the worst case: no log level set by the user
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    return {**env, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": ROOT + os.pathsep + env.get("PYTHONPATH", "")}


def _python(code, timeout=300):
    """stdout + stderr of `python -c code`; fails the test on a non-zero exit."""
    result = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _command(*arguments):
    """Output of `keras-centernet ARGUMENTS...` through the console script's module."""
    code = f"import sys\nsys.argv = ['keras-centernet', *{list(arguments)!r}]\nimport keras_centernet_command\n"
    return _python(code + "sys.exit(keras_centernet_command.main())")


def test_help_and_version_import_no_backend():
    code = f"""{BOOTSTRAP}
from keras_centernet import cli
parser = cli.build_parser()
helps = [command.format_help() for command in parser.commands.values()]
try:
    cli.main(["--version"])
except SystemExit:
    pass
print(len(helps), sorted(name for name in {BACKENDS!r} if name in sys.modules))
"""
    output = _python(code)
    assert output.splitlines() == ["keras-centernet 0.1.0", f"{len(build_parser().commands)} []"], output


def test_the_installed_entry_point_version_imports_no_tensorflow_and_prints_one_line():
    code = "import sys\nsys.argv = ['keras-centernet', '--version']\nimport keras_centernet_command\n"
    code += "try:\n    keras_centernet_command.main()\nexcept SystemExit:\n    pass\n"
    code += "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'KERAS_CENTERNET_LAZY_IMPORT' in os.environ)"
    assert _python("import os\n" + code).splitlines() == ["keras-centernet 0.1.0", "False False False"]


def test_a_plain_import_still_registers_the_classes_for_load_model():
    code = "import keras_centernet, keras\n"
    code += "print(keras.saving.get_registered_object('keras_centernet>CenterNet') is keras_centernet.CenterNet)"
    assert _python(code).splitlines()[0] == "True"  # stdout first, then TensorFlow's start-up lines


@pytest.mark.parametrize("command", sorted(build_parser().commands))
def test_help_is_quiet(command):
    output = _command(command, "--help")
    assert f"usage: keras-centernet {command}" in output
    assert not CHATTER.search(output), CHATTER.search(output)


@pytest.mark.slow
@pytest.mark.tensorflow
def test_tiny_train_evaluate_detect_are_quiet(tmp_path, monkeypatch):
    from keras_centernet.data.synthetic import make_synthetic_dataset
    from tests.commands.records import write_synthetic_split

    data, runs = str(tmp_path / "data"), str(tmp_path / "run")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the commands' stderr logs go here
    os.makedirs(tmp_path / "tmp")
    for split, seed in (("train", 1), ("val", 2)):
        write_synthetic_split(data, split, *make_synthetic_dataset(4, image_size=64, max_boxes=4, seed=seed))
    outputs = {
        "train": _command("train", "--data_dir", data, "--model_dir", runs, "--backbone", "tiny", "--neck", "deconv",
                          "--image_size", "64", "--batch_size", "2", "--num_train_steps", "2"),
        "evaluate": _command("evaluate", "--data_dir", data, "--weights", f"{runs}/model.keras", "--max_images", "2",
                             "--output", str(tmp_path / "metrics.json")),
        "detect": _command("detect", "--weights", f"{runs}/model.keras", "--output", str(tmp_path / "drawn"),
                           os.path.join(data, "val_images")),
    }  # fmt: skip
    assert os.path.isfile(os.path.join(runs, "model.keras")) and "metrics:" in outputs["evaluate"]
    assert "4 images" in outputs["detect"]
    for command, output in outputs.items():
        assert not CHATTER.search(output), (command, CHATTER.search(output), output[-2000:])
    # what was hidden is in each command's log (issue 18), not in the run folder
    assert not os.path.exists(os.path.join(runs, "logs", "stderr.log"))
    for command in outputs:
        (path,) = glob.glob(str(tmp_path / "tmp" / "keras-centernet-*" / f"{command}-*.log"))
        with open(path) as file:
            log = file.read()
        assert f"{command} start-up" in log and "start-up done" in log and f"{command} ended" in log, log[-2000:]
        assert CHATTER.search(log), (command, log[-2000:])  # TensorFlow's start-up lines went here
