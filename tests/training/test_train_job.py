"""The training job's pieces: the augmentation flags reach build_dataset and train_config.json, train(config=...)
equals the keyword call, and the callback list keeps its crash-safe order."""

import json
import os

import pytest

from keras_centernet.callbacks.backup import CrashSafeBackup
from keras_centernet.callbacks.checkpoint import EpochCheckpoint
from keras_centernet.callbacks.history_file import HistoryFile
from keras_centernet.callbacks.nonfinite import StopOnNonFinite
from keras_centernet.cli import main
from keras_centernet.training import AugmentationConfig, TrainConfig, builders, train
from keras_centernet.training.plan import RunPlan

pytestmark = pytest.mark.tensorflow


def _train_args(data_dir, model_dir, *extra):
    return [
        "train", "--data_dir", data_dir, "--model_dir", model_dir, "--backbone", "tiny", "--image_size", "64",
        "--batch_size", "4", "--epochs", "1", "--steps_per_epoch", "1", "--seed", "0", "--verbose", "0", *extra,
    ]  # fmt: skip


def test_augmentation_flags_reach_the_pipeline_and_train_config_json(synthetic_records, tmp_path, monkeypatch):
    from keras_centernet.data import pipeline

    calls = []
    original = pipeline.build_dataset
    monkeypatch.setattr(pipeline, "build_dataset", lambda *a, **k: calls.append(k) or original(*a, **k))
    model_dir = str(tmp_path / "run")
    flags = ["--flip_probability", "0", "--color_jitter", "0", "--scale_range", "1,1", "--min_box_size", "1"]
    assert main(_train_args(synthetic_records, model_dir, *flags)) == 0
    with open(os.path.join(model_dir, "train_config.json")) as file:
        saved = json.load(file)
    given = {"scale_range": [1.0, 1.0], "flip_probability": 0.0, "color_jitter": 0.0, "min_box_size": 1.0}
    defaults = AugmentationConfig().to_dict()
    assert saved["augmentation"] == {**json.loads(json.dumps(defaults)), **given}
    assert defaults["flip_probability"] == 0.5 and defaults["crop"] == "scale"  # the flags really changed something
    assert saved["data"]["image_size"] == 64 and saved["model"]["backbone"] == "tiny"
    assert TrainConfig.from_dict(saved).schedule.steps_per_epoch == 1
    (training_call,) = [k for k in calls if k["training"]]
    assert tuple(training_call["scale_range"]) == (1.0, 1.0) and training_call["flip_probability"] == 0.0
    assert training_call["color_jitter"] == 0.0 and training_call["min_box_size"] == 1.0
    assert training_call["pca_lighting"] is False


def test_train_takes_a_config(synthetic_records, tmp_path):
    config = TrainConfig.from_keywords(
        synthetic_records, str(tmp_path / "run"), backbone="tiny", image_size=64, batch_size=4, num_train_steps=2,
        steps_per_epoch=1, seed=0, verbose=0,
    )  # fmt: skip
    model, history = train(config=config)
    assert int(model.optimizer.iterations.numpy()) == 2 and len(history["loss"]) == 2
    with open(os.path.join(config.data.model_dir, "train_config.json")) as file:
        assert TrainConfig.from_dict(json.load(file)) == config


class _Runtime:
    use_horovod, is_chief, num_devices = False, True, 1

    def process_batch_size(self, batch_size):
        return batch_size


def test_callbacks_keep_their_order(tmp_path):
    import threading

    from keras_centernet.callbacks.performance import PerformanceCallback
    from keras_centernet.callbacks.preemption import PreemptionGuard
    from keras_centernet.callbacks.progress import TrainingProgress
    from keras_centernet.callbacks.step_log import StepLog

    config = TrainConfig.from_keywords("d", str(tmp_path), use_performance=True)
    plan = RunPlan("float32", 16, 3, 5, 15, (), 1e-3, ())
    backup = CrashSafeBackup(str(tmp_path / "backup" / "rank_0"))
    callbacks = builders.build_callbacks(config, _Runtime(), plan, backup, 12, threading.Event())
    assert isinstance(callbacks[0], StopOnNonFinite) and callbacks[0].initial_step == 12
    assert isinstance(callbacks[1], StepLog) and callbacks[1].step == 12
    assert isinstance(callbacks[2], PreemptionGuard) and callbacks[2].every_seconds == 30 * 60
    assert isinstance(callbacks[3], TrainingProgress) and isinstance(callbacks[4], PerformanceCallback)
    assert isinstance(callbacks[5], EpochCheckpoint) and isinstance(callbacks[6], HistoryFile)
    assert callbacks[6].initial_epoch == 2  # 12 steps of 5-step epochs: 2 finished
    assert callbacks[-1] is backup
    assert all(type(c).__name__ in ("TensorBoard", "ProfilerCallback") for c in callbacks[7:-1])


@pytest.mark.parametrize(
    "flags, message",
    [(("--log_every_steps", "-1"), "--log_every_steps must be >= 0"), (("--head_channels", "0"), "--head_channels")],
)
def test_bad_report_and_model_flags_are_refused_before_work(synthetic_records, tmp_path, capsys, flags, message):
    model_dir = tmp_path / "run"
    assert main(_train_args(synthetic_records, str(model_dir), *flags)) == 2
    assert f"train: error: {message}" in capsys.readouterr().err
    assert not model_dir.exists()
