"""Resume restores the WEIGHTS, not just the epoch count and the optimizer: checked against the run's own
per-epoch checkpoint files (`checkpoints/epoch_NNN.keras`), written by a different callback than the backup.

A resume that kept the epoch number and Adam's state but trained on from fresh weights would still run the
right number of epochs and write every file; only the weights tell.
"""

import os
import shutil

import keras
import numpy as np
import pytest

from keras_centernet import training
from keras_centernet.callbacks.backup import CrashSafeBackup
from keras_centernet.callbacks.nonfinite import StopOnNonFinite
from keras_centernet.training import builders

pytestmark = pytest.mark.tensorflow  # train() reads TFRecords

STEPS = 2
TRAIN_ARGS = dict(backbone="tiny", image_size=64, batch_size=4, steps_per_epoch=STEPS, seed=0, verbose=0)


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _assert_weights_equal(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def two_epoch_run(synthetic_records, tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("resume_reference") / "run")
    training.train(synthetic_records, model_dir, epochs=2, **TRAIN_ARGS)
    return model_dir


def _checkpoint(model_dir, epoch):
    return keras.saving.load_model(os.path.join(model_dir, "checkpoints", f"epoch_{epoch:03d}.keras"))


def test_backup_restore_gives_the_last_checkpoint_weights(two_epoch_run):
    last = _checkpoint(two_epoch_run, 2)
    model = _checkpoint(two_epoch_run, 1)  # same architecture, the previous epoch's weights
    before = _values(model.weights)
    assert any(not np.array_equal(a, b) for a, b in zip(before, _values(last.weights)))  # training moved them
    assert CrashSafeBackup(os.path.join(two_epoch_run, "backup", "rank_0")).restore(model)["epoch"] == 2
    _assert_weights_equal(_values(model.weights), _values(last.weights))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2 * STEPS


def test_resumed_run_starts_from_the_last_checkpoint_weights(two_epoch_run, synthetic_records, tmp_path, monkeypatch):
    model_dir = str(tmp_path / "run")
    shutil.copytree(two_epoch_run, model_dir)
    start = {}

    class SnapshotAtStart(StopOnNonFinite):
        """The run's first callback: records what fit starts from."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            start["weights"] = _values(self.model.weights)
            start["iterations"] = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    monkeypatch.setattr(builders, "StopOnNonFinite", SnapshotAtStart)
    model, history = training.train(synthetic_records, model_dir, epochs=3, **TRAIN_ARGS)
    assert start, "the resumed run never started fit"
    _assert_weights_equal(start["weights"], _values(_checkpoint(model_dir, 2).weights))
    assert start["iterations"] == 2 * STEPS
    assert len(history["loss"]) == 1  # only epoch 3 ran
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3 * STEPS
    _assert_weights_equal(_values(model.weights), _values(_checkpoint(model_dir, 3).weights))
