"""Resume state, history across resumes, checkpoints and the non-finite guard, as callbacks on a tiny model."""

import json
import math
import os

import keras
import numpy as np
import pytest

from keras_centernet.callbacks.backup import STATE_FILE, CrashSafeBackup, read_state
from keras_centernet.callbacks.checkpoint import EpochCheckpoint
from keras_centernet.callbacks.history_file import HistoryFile, read_history
from keras_centernet.callbacks.nonfinite import NonFiniteLossError, StopOnNonFinite
from keras_centernet.training import lr_boundaries


def _fit(model, data, epochs, callbacks, initial_epoch=0):
    images, boxes, labels = data
    return model.fit(
        images[:8], {"boxes": boxes[:8], "labels": labels[:8]}, batch_size=4, epochs=epochs,
        initial_epoch=initial_epoch, callbacks=callbacks, verbose=0, shuffle=False,
    )  # fmt: skip


def test_lr_boundaries_fit_every_run_length():
    # round(steps x 90000 / 140000), round(steps x 120000 / 140000), kept inside 0 < step < steps once each
    assert lr_boundaries(1) == [] and lr_boundaries(2) == [1] and lr_boundaries(3) == [2]
    assert lr_boundaries(140000) == [90000, 120000] and lr_boundaries(14000) == [9000, 12000]
    assert lr_boundaries(1000) == [643, 857]


def test_backup_restores_weights_optimizer_and_epoch(tmp_path, tiny_model, synthetic_64):
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    backup = CrashSafeBackup(str(tmp_path / "backup"), seed=11)
    _fit(model, synthetic_64, 2, [backup])  # 8 images, batch 4: 2 steps an epoch
    expected = {"epoch": 2, "step": 4, "weights": "step_000000004.weights.h5", "seed": 11}
    assert read_state(backup.backup_dir) == expected
    assert sorted(os.listdir(backup.backup_dir)) == [STATE_FILE, "step_000000004.weights.h5"]  # epoch 1's removed
    restored = tiny_model(3, seed=5)  # other initial weights: the restore must replace them
    restored.compile(keras.optimizers.Adam(1e-3))
    assert CrashSafeBackup(backup.backup_dir).restore(restored) == expected
    assert int(restored.optimizer.iterations.numpy()) == 4
    for saved, loaded in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(loaded))


def test_backup_state_points_at_a_complete_file_when_the_newest_weights_never_landed(tmp_path):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / STATE_FILE).write_text(json.dumps({"epoch": 1, "weights": "step_000000002.weights.h5"}))
    (backup_dir / "step_000000002.weights.h5").write_bytes(b"h5")
    (backup_dir / ".step_000000004.weights.h5.tmp-999999-0.weights.h5").write_bytes(b"trunc")  # killed mid-write
    assert read_state(str(backup_dir))["weights"] == "step_000000002.weights.h5"


def test_history_holds_every_epoch_once_across_a_resume(tmp_path, tiny_model, synthetic_64):
    path = str(tmp_path / "history.json")
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    _fit(model, synthetic_64, 3, [HistoryFile(path)])
    first = read_history(path)
    assert first["epoch"] == [1, 2, 3] and len(first["loss"]) == 3
    # killed after epoch 3's history row but with the backup of epoch 2: the resume redoes epoch 3
    _fit(model, synthetic_64, 4, [HistoryFile(path, initial_epoch=2)], initial_epoch=2)
    resumed = read_history(path)
    assert resumed["epoch"] == [1, 2, 3, 4]
    assert resumed["loss"][:2] == first["loss"][:2] and resumed["loss"][2] != first["loss"][2]


def test_checkpoints_every_epoch_and_the_best_by_metric(tmp_path, tiny_model, synthetic_64):
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    best = EpochCheckpoint(str(tmp_path / "best.keras"), monitor="loss", mode="min")
    _fit(model, synthetic_64, 2, [EpochCheckpoint(str(tmp_path / "epoch_{epoch:03d}.keras")), best])
    assert sorted(os.listdir(tmp_path)) == ["best.keras", "epoch_001.keras", "epoch_002.keras"]
    assert math.isfinite(best.best)
    keras.saving.load_model(str(tmp_path / "epoch_002.keras"))


class _PoisonWeights(keras.callbacks.Callback):
    """Puts a NaN in the first weight after `at_batch` batches (as an overflow in the update would)."""

    def __init__(self, at_batch):
        super().__init__()
        self.at_batch = at_batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at_batch:
            variable = self.model.trainable_weights[0]
            variable.assign(keras.ops.full(variable.shape, float("nan")))


def test_a_non_finite_loss_stops_naming_the_step():
    guard = StopOnNonFinite(initial_step=10)
    guard.on_train_batch_end(0, {"loss": 2.5})
    with pytest.raises(NonFiniteLossError, match=r"the loss is inf at step 12 \(batch 2 of this epoch\)"):
        guard.on_train_batch_end(1, {"loss": float("inf")})


def test_non_finite_weights_stop_before_the_backup_is_replaced(tmp_path, tiny_model, synthetic_64):
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    backup = CrashSafeBackup(str(tmp_path / "backup"))
    _fit(model, synthetic_64, 1, [StopOnNonFinite(), backup])
    state_bytes = (tmp_path / "backup" / STATE_FILE).read_bytes()
    weights_bytes = (tmp_path / "backup" / "step_000000002.weights.h5").read_bytes()
    guard = StopOnNonFinite(initial_step=2, weights_every=1)
    with pytest.raises(NonFiniteLossError, match=r"not finite after step 4 \(batch 2 of this epoch\), e\.g\. tiny"):
        _fit(model, synthetic_64, 2, [guard, _PoisonWeights(0), backup], initial_epoch=1)
    assert (tmp_path / "backup" / STATE_FILE).read_bytes() == state_bytes
    assert (tmp_path / "backup" / "step_000000002.weights.h5").read_bytes() == weights_bytes


def test_non_finite_weights_at_an_epoch_end_stop_before_the_backup(tmp_path, tiny_model, synthetic_64):
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    backup = CrashSafeBackup(str(tmp_path / "backup"))
    with pytest.raises(NonFiniteLossError, match=r"weights are not finite after step 2 \(epoch 1\)"):
        _fit(model, synthetic_64, 1, [StopOnNonFinite(), _PoisonWeights(1), backup])  # last batch: loss was finite
    assert not os.path.exists(backup.backup_dir)
