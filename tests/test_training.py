import os
import subprocess
import sys

import numpy as np
import pytest

from keras_centernet.models.weights import load_matching_weights
from keras_centernet.training import plan_steps, precision_policy

pytestmark = pytest.mark.tensorflow


def test_plan_steps_total_steps_and_epochs():
    assert plan_steps(140000, 1, 1000, 0, 64) == (140, 1000, 140000)
    assert plan_steps(2500, 1, None, 0, 64) == (3, 1000, 2500)
    assert plan_steps(0, 3, None, 1000, 64) == (3, 15, 45)
    with pytest.raises(ValueError, match="fewer than one global batch"):
        plan_steps(0, 1, None, 10, 64)


def test_precision_policy_names():
    assert precision_policy(False) == "float32"
    assert precision_policy(True, "float16") == "mixed_float16"
    assert precision_policy(True, "auto", use_gpu=False) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="amp_dtype"):
        precision_policy(True, "int8")


def test_fine_tune_from_a_model_with_another_number_of_classes(tmp_path, tiny_model):
    source = tiny_model(5, neck="fpn", seed=3)
    source.save(tmp_path / "five.keras")
    source.save_weights(tmp_path / "five.weights.h5")
    for checkpoint in ("five.keras", "five.weights.h5"):
        target = tiny_model(3, neck="fpn", seed=4)
        printed = []
        loaded, skipped = load_matching_weights(target, str(tmp_path / checkpoint), print_fn=printed.append)
        heads = ["heatmap_head/output_conv/bias", "heatmap_head/output_conv/kernel"]
        assert sorted(path for path, _ in skipped) == heads
        assert len(loaded) == len(target.weights) - 2
        by_path = {v.path: v for v in source.weights}
        for variable in target.weights:
            if variable.path in loaded:
                np.testing.assert_array_equal(variable.numpy(), by_path[variable.path].numpy())
        assert any("skipped heatmap_head/output_conv/kernel" in line for line in printed)
        assert any(line.startswith(f"fine-tune: loaded {len(loaded)} of") for line in printed)
    with pytest.raises(FileNotFoundError, match="fine_tune_ckpt"):
        load_matching_weights(target, str(tmp_path / "missing.keras"))


def train_command(data_dir, model_dir, epochs, steps_per_epoch=3, extra=()):
    return [
        sys.executable, "-m", "keras_centernet.cli", "train", "--data_dir", data_dir, "--model_dir", model_dir,
        "--backbone", "tiny", "--neck", "fpn", "--image_size", "64", "--batch_size", "8", "--epochs", str(epochs),
        "--steps_per_epoch", str(steps_per_epoch), "--seed", "0", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_train_command_fine_tunes_evaluates_and_reports(synthetic_records, tmp_path, tiny_model):
    source = tiny_model(5, neck="fpn")
    source.save(tmp_path / "five.keras")
    model_dir = str(tmp_path / "run")
    extra = ["--fine_tune_ckpt", str(tmp_path / "five.keras"), "--eval_every", "1", "--use_performance",
             "--performance_warmup_steps", "1"]  # fmt: skip
    result = subprocess.run(
        train_command(synthetic_records, model_dir, epochs=1, extra=extra),
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "fine-tune: loaded" in output and "skipped heatmap_head/output_conv/kernel" in output
    assert "val_AP" in output
    for path in ("model.keras", "history.json", "summary/summary.json", "checkpoints/best_val_AP.keras"):
        assert os.path.exists(os.path.join(model_dir, path)), path
