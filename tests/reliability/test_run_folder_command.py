"""`keras-centernet train` against what a run folder holds: a bad learning rate is refused before anything is
written, train_config.json names the recipe, and a command of another configuration in a trained --model_dir is
refused in one line with every file byte-identical (issue 18)."""

import json
import math
import os
import shutil

import pytest

from keras_centernet.cli import main
from keras_centernet.training import TrainConfig
from keras_centernet.training.checks import check_config
from keras_centernet.validation import InputError
from tests.reliability.test_train_command import _digests, one_error_line, train_args

pytestmark = pytest.mark.tensorflow


def _run_files(model_dir):
    """{relative path: sha256} of the run folder's files, the command log (logs/stderr*.log: every command, refused
    ones too, appends its stderr there) left out."""
    return {
        path: digest
        for path, digest in _digests(model_dir).items()
        if not (os.path.dirname(path) == "logs" and os.path.basename(path).startswith("stderr"))
    }


@pytest.mark.parametrize("value", ["-2e-3", "0", "nan", "inf"])
def test_a_negative_zero_or_non_finite_learning_rate_is_refused_and_nothing_is_written(
    synthetic_records, tmp_path, capsys, value
):
    model_dir = tmp_path / "run"
    assert main(train_args(synthetic_records, str(model_dir), f"--learning_rate={value}")) == 2
    assert one_error_line(capsys) == (
        f"keras-centernet train: error: --learning_rate must be a finite number > 0, got {float(value)!r}"
    )
    assert _run_files(str(model_dir)) == {}


@pytest.mark.parametrize("value", [-1e-3, 0, 0.0, math.nan, True, "1e-3"])
def test_check_config_names_the_learning_rate(value):
    with pytest.raises(InputError, match=r"^--learning_rate must be a finite number > 0, got "):
        check_config(TrainConfig.from_keywords("/no/such/data", "/no/such/run", learning_rate=value))


def test_train_config_json_names_the_recipe(synthetic_records, tmp_path):
    model_dir = str(tmp_path / "run")
    overrides = ["--num_train_steps", "1", "--warmup_steps", "0", "--eval_every", "0", "--use_performance", "false"]
    assert main(train_args(synthetic_records, model_dir, "--recipe", "seed_r101_fpn_512", *overrides)) == 0
    with open(os.path.join(model_dir, "train_config.json")) as file:
        saved = json.load(file)
    assert saved["model"]["recipe"] == "seed_r101_fpn_512" and saved["model"]["backbone"] == "tiny"
    assert TrainConfig.from_dict(saved).model.recipe == "seed_r101_fpn_512"


def _other_classes(source, target):
    """A copy of the dataset folder whose label map names the same ids (3, 17, 90) as other classes."""
    shutil.copytree(source, target)
    from keras_centernet.data.label_map import write_label_map

    write_label_map(os.path.join(target, "mscoco_label_map.pbtxt"), {3: "square", 17: "circle", 90: "arrow"})
    return str(target)


def test_e2e_another_configuration_in_a_trained_model_dir_is_refused_and_every_file_stays(
    synthetic_records, tmp_path, capsys
):
    model_dir = str(tmp_path / "run")
    assert main(train_args(synthetic_records, model_dir, epochs=1, steps_per_epoch=1)) == 0
    assert os.path.isfile(os.path.join(model_dir, "label_map.json"))
    capsys.readouterr()
    before = _run_files(model_dir)
    tail = f"; continue it with the saved values, start from its weights with --fine_tune_ckpt {model_dir}/model.keras"
    refusals = [
        (["--image_size", "96", "--backbone", "resnet18"], "backbone tiny -> resnet18, image_size 64 -> 96"),
        (["--data_dir", _other_classes(synthetic_records, tmp_path / "other")],
         f"data_dir {os.path.realpath(synthetic_records)} -> {os.path.realpath(tmp_path / 'other')}, classes "
         "3 rectangle -> square, 17 ellipse -> circle, 90 triangle -> arrow"),
    ]  # fmt: skip
    for change, differences in refusals:
        assert main([*train_args(synthetic_records, model_dir, epochs=2, steps_per_epoch=1), *change]) == 2
        assert one_error_line(capsys) == (
            f"keras-centernet train: error: --model_dir {model_dir!r} holds a run of another configuration: "
            f"{differences}{tail}, or use a new --model_dir"
        )
        assert _run_files(model_dir) == before
    # a longer schedule at another learning rate and batch continues the run
    assert main(train_args(synthetic_records, model_dir, "--learning_rate", "5e-4", "--batch_size", "4", epochs=2,
                           steps_per_epoch=1)) == 0  # fmt: skip
    assert "train: resuming " in capsys.readouterr().out
