"""EpochCheckpoint: the newest K epoch checkpoints (removed only once the new one is durable, leftovers of a killed
run cleaned) and a best checkpoint that a resumed run replaces only with a better value."""

import json
import os

import keras
import numpy as np
import pytest

from keras_centernet.callbacks import checkpoint
from keras_centernet.callbacks.checkpoint import (
    EpochCheckpoint,
    check_keep,
    epoch_checkpoints,
    pending_best_files,
    pending_best_path,
    settle_pending_best,
)
from keras_centernet.callbacks.history_file import HistoryFile, read_history
from keras_centernet.validation import InputError

PATTERN = "epoch_{epoch:03d}.keras"


class MarkerModel:
    """Stands in for a model: `save(path)` writes `marker` (the epoch whose weights it "holds")."""

    def __init__(self):
        self.marker = "initial"

    def save(self, path):
        with open(path, "w") as file:
            file.write(self.marker)


def _files(folder):
    return sorted(name for name in os.listdir(folder))


def _read(path):
    with open(path) as file:
        return file.read()


def _run_epochs(callbacks, model, epochs, initial_epoch=0, logs_of=None, kill_after=None):
    """Drives callbacks as `fit` does; `kill_after=N`: the process dies right after epoch N's `on_epoch_end`s
    (no next `on_epoch_begin`, no `on_train_end`)."""
    for callback in callbacks:
        callback.set_model(model)
        callback.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        model.marker = f"epoch {epoch + 1}"
        logs = dict(logs_of(epoch + 1)) if logs_of else {}
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if kill_after == epoch + 1:
            return
    for callback in callbacks:
        callback.on_train_end()


def _touch(folder, *names):
    for name in names:
        (folder / name).write_text(name)


# --- retention of per-epoch checkpoints ---------------------------------------------------------------------------


def test_after_n_epochs_of_fit_the_newest_k_and_the_best_remain(tmp_path, tiny_model, synthetic_64):
    model = tiny_model(3, head_channels=8)
    model.compile(keras.optimizers.Adam(1e-3))
    epochs = EpochCheckpoint(str(tmp_path / PATTERN), keep=2)
    best = EpochCheckpoint(str(tmp_path / "best.keras"), monitor="loss", mode="min")
    images, boxes, labels = synthetic_64
    model.fit(
        images[:4], {"boxes": boxes[:4], "labels": labels[:4]}, batch_size=4, epochs=3, callbacks=[epochs, best],
        verbose=0, shuffle=False,
    )  # fmt: skip
    assert _files(tmp_path) == ["best.keras", "epoch_002.keras", "epoch_003.keras"]
    restored = keras.saving.load_model(str(tmp_path / "epoch_003.keras"))
    for saved, loaded in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(loaded))


def test_the_oldest_is_removed_only_once_the_new_file_is_in_place(tmp_path, monkeypatch):
    callback = EpochCheckpoint(str(tmp_path / PATTERN), keep=2)
    model = MarkerModel()
    _run_epochs([callback], model, 2)
    removals = []
    real_remove = os.remove

    def spying_remove(path):
        removals.append((os.path.basename(path), _files(tmp_path)))
        real_remove(path)

    monkeypatch.setattr(checkpoint.os, "remove", spying_remove)
    _run_epochs([callback], model, 3, initial_epoch=2)
    # when epoch 1's file went, epoch 3's was complete under its own name (no temporary left beside it)
    assert removals == [("epoch_001.keras", ["epoch_001.keras", "epoch_002.keras", "epoch_003.keras"])]
    assert _read(tmp_path / "epoch_003.keras") == "epoch 3"


def test_a_save_that_fails_leaves_the_old_files(tmp_path):
    callback = EpochCheckpoint(str(tmp_path / PATTERN), keep=2)
    model = MarkerModel()
    _run_epochs([callback], model, 2)

    class DiskFull(MarkerModel):
        def save(self, path):
            with open(path, "w") as file:
                file.write("half a checkpo")
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        _run_epochs([callback], DiskFull(), 3, initial_epoch=2)
    assert _files(tmp_path) == ["epoch_001.keras", "epoch_002.keras"]  # nothing removed, no temporary left
    assert _read(tmp_path / "epoch_001.keras") == "epoch 1" and _read(tmp_path / "epoch_002.keras") == "epoch 2"


def test_leftovers_of_a_killed_run_are_removed_by_the_next_save_and_nothing_else(tmp_path):
    # killed between writing epoch 7 and removing epoch 4 (keep 3), after an earlier run that kept every epoch
    _touch(tmp_path, *(PATTERN.format(epoch=n) for n in range(1, 8)))
    others = ["best.keras", "epoch_7.keras", "epoch_0008.keras", "epoch_004.keras.bak", "notes.txt",
              ".epoch_008.keras.tmp-1-0.keras", "epoch_abc.keras"]  # fmt: skip
    _touch(tmp_path, *others)
    _run_epochs([EpochCheckpoint(str(tmp_path / PATTERN), keep=3)], MarkerModel(), 8, initial_epoch=7)
    assert _files(tmp_path) == sorted(["epoch_006.keras", "epoch_007.keras", "epoch_008.keras", *others])


def test_checkpoints_of_epochs_being_redone_are_removed(tmp_path):
    # a resume after epoch 2 (its backup) finds files up to epoch 5: 3..5 are being redone
    _touch(tmp_path, *(PATTERN.format(epoch=n) for n in range(1, 6)))
    _run_epochs([EpochCheckpoint(str(tmp_path / PATTERN), keep=3)], MarkerModel(), 3, initial_epoch=2)
    assert _files(tmp_path) == ["epoch_001.keras", "epoch_002.keras", "epoch_003.keras"]
    assert _read(tmp_path / "epoch_003.keras") == "epoch 3"


def test_keep_zero_writes_no_epoch_checkpoint_and_keep_none_keeps_every_one(tmp_path):
    zero, every = tmp_path / "zero", tmp_path / "every"
    zero.mkdir()
    every.mkdir()
    _touch(zero, "epoch_001.keras", "best.keras")
    _run_epochs([EpochCheckpoint(str(zero / PATTERN), keep=0)], MarkerModel(), 3, initial_epoch=1)
    assert _files(zero) == ["best.keras"]
    _run_epochs([EpochCheckpoint(str(every / PATTERN))], MarkerModel(), 5)
    assert sorted(epoch_checkpoints(str(every / PATTERN))) == [1, 2, 3, 4, 5]


def test_bad_keep_and_patterns_are_refused():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(InputError, match=r"--keep_checkpoints must be an integer >= 0 \(0: no per-epoch"):
            check_keep(bad)
    assert check_keep(0) == 0 and check_keep(None) is None
    with pytest.raises(ValueError, match="exactly one {epoch} field"):
        EpochCheckpoint("checkpoints/last.keras", keep=3)
    with pytest.raises(ValueError, match="exactly one {epoch} field"):
        EpochCheckpoint("run_{epoch}/epoch_{epoch}.keras")
    with pytest.raises(ValueError, match="keep applies to per-epoch"):
        EpochCheckpoint("best.keras", monitor="val_AP", keep=3)


# --- the best checkpoint across resumes -----------------------------------------------------------------------------


def _write_history(path, values):
    rows = {"epoch": list(range(1, len(values) + 1)), "val_AP": values}
    with open(path, "w") as file:
        json.dump(rows, file)


def test_a_resumed_best_is_replaced_only_by_a_better_value(tmp_path):
    history, best_path = tmp_path / "history.json", tmp_path / "best_val_AP.keras"
    _write_history(history, [0.2, 0.5, 0.4])
    best_path.write_text("epoch 2")
    callback = EpochCheckpoint(str(best_path), monitor="val_AP", history_path=str(history), initial_epoch=3)
    _run_epochs([callback], MarkerModel(), 4, initial_epoch=3, logs_of=lambda epoch: {"val_AP": 0.3})
    assert _read(best_path) == "epoch 2" and (callback.best, callback.best_epoch) == (0.5, 2)
    callback = EpochCheckpoint(str(best_path), monitor="val_AP", history_path=str(history), initial_epoch=4)
    _run_epochs([callback], MarkerModel(), 5, initial_epoch=4, logs_of=lambda epoch: {"val_AP": 0.6})
    assert _read(best_path) == "epoch 5" and (callback.best, callback.best_epoch) == (0.6, 5)
    assert _files(tmp_path) == ["best_val_AP.keras", "history.json"]


def test_without_history_the_old_behaviour_overwrites(tmp_path):
    best_path = tmp_path / "best_val_AP.keras"
    best_path.write_text("epoch 2")
    callback = EpochCheckpoint(str(best_path), monitor="val_AP")
    _run_epochs([callback], MarkerModel(), 4, initial_epoch=3, logs_of=lambda epoch: {"val_AP": 0.3})
    assert _read(best_path) == "epoch 4"


def test_a_missing_best_file_is_written_by_the_first_evaluation(tmp_path):
    history = tmp_path / "history.json"
    _write_history(history, [0.2, 0.5])
    callback = EpochCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_AP", history_path=str(history), initial_epoch=2
    )
    assert callback.restore_best(read_history(str(history)), 2) == float("-inf")
    _run_epochs([callback], MarkerModel(), 3, initial_epoch=2, logs_of=lambda epoch: {"val_AP": 0.1})
    assert _read(tmp_path / "best.keras") == "epoch 3"


def test_restore_best_in_min_mode_uses_committed_rows_only(tmp_path):
    best_path = tmp_path / "best.keras"
    best_path.write_text("x")
    callback = EpochCheckpoint(str(best_path), monitor="val_loss", mode="min")
    history = {"epoch": [1, 2, 3, 4], "val_loss": [3.0, None, 2.0, 1.0], "loss": [9.0, 8.0, 7.0, 6.0]}
    assert callback.restore_best(history, 3) == 2.0 and callback.best_epoch == 3
    assert callback.restore_best(history, 4) == 1.0 and callback.best_epoch == 4
    assert callback.restore_best({"epoch": [1], "val_loss": [float("nan")]}, 1) == float("inf")


AP_OF_FIRST_RUN = {1: 0.2, 2: 0.5, 3: 0.4, 4: 0.7}


def _first_run_killed_after_epoch_4(model_dir):
    """Epochs 1-4 with history.json and the best checkpoint; the process dies right after epoch 4's writes."""
    history = HistoryFile(str(model_dir / "history.json"))
    best = EpochCheckpoint(str(model_dir / "best_val_AP.keras"), monitor="val_AP")
    _run_epochs([history, best], MarkerModel(), 6, logs_of=lambda e: {"val_AP": AP_OF_FIRST_RUN[e]}, kill_after=4)
    # epoch 4 improved: it waits beside the best of epoch 2 until epoch 4 is committed (its backup is written)
    assert _read(model_dir / "best_val_AP.keras") == "epoch 2"
    assert list(pending_best_files(str(model_dir / "best_val_AP.keras"))) == [4]


def _resume(model_dir, initial_epoch, ap_of):
    history = HistoryFile(str(model_dir / "history.json"), initial_epoch=initial_epoch)
    best = EpochCheckpoint(
        str(model_dir / "best_val_AP.keras"), monitor="val_AP", history_path=str(model_dir / "history.json"),
        initial_epoch=initial_epoch,
    )  # fmt: skip
    _run_epochs([history, best], MarkerModel(), 6, initial_epoch=initial_epoch, logs_of=lambda e: {"val_AP": ap_of[e]})
    return best


@pytest.mark.parametrize("redone_epoch_4, best_file", [(0.45, "epoch 2"), (0.55, "epoch 4")])
def test_a_kill_before_the_backup_redoes_the_epoch_and_its_best(tmp_path, redone_epoch_4, best_file):
    _first_run_killed_after_epoch_4(tmp_path)
    # the backup holds epoch 3: history.json's row 4 and the pending epoch-4 best belong to an epoch being redone
    best = _resume(tmp_path, 3, {4: redone_epoch_4, 5: 0.1, 6: 0.1})
    assert _read(tmp_path / "best_val_AP.keras") == best_file
    assert best.best == max(0.5, redone_epoch_4)
    assert read_history(str(tmp_path / "history.json"))["val_AP"] == [0.2, 0.5, 0.4, redone_epoch_4, 0.1, 0.1]
    assert _files(tmp_path) == ["best_val_AP.keras", "history.json"]


def test_a_kill_after_the_backup_keeps_the_epochs_best(tmp_path):
    _first_run_killed_after_epoch_4(tmp_path)
    best = _resume(tmp_path, 4, {5: 0.6, 6: 0.65})  # the backup of epoch 4 was written: epoch 4 is committed
    assert _read(tmp_path / "best_val_AP.keras") == "epoch 4"
    assert (best.best, best.best_epoch) == (0.7, 4)
    assert _files(tmp_path) == ["best_val_AP.keras", "history.json"]


class Killed(Exception):
    pass


class _WeightsBackup(keras.callbacks.Callback):
    """The resume state as the run's backup writes it, last of the epoch's writes: the weights and optimizer of the
    last finished epoch (a stand-in for callbacks.backup, whose own tests cover it)."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        self.model.save_weights(os.path.join(self.folder, "state.weights.h5"))
        with open(os.path.join(self.folder, "epoch"), "w") as file:
            file.write(str(epoch + 1))

    def restore(self, model):
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.folder, "state.weights.h5"))
        return int(_read(os.path.join(self.folder, "epoch")))


class _KillBeforeTheBackup(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Killed("after the checkpoints, before the backup")


def test_fit_killed_before_the_backup_resumes_with_the_best_of_the_committed_epochs(tmp_path, tiny_model, synthetic_64):
    images, boxes, labels = synthetic_64
    data = (images[:4], {"boxes": boxes[:4], "labels": labels[:4]})
    history_path, best_path = str(tmp_path / "history.json"), str(tmp_path / "best.keras")
    (tmp_path / "backup").mkdir()
    backup = _WeightsBackup(str(tmp_path / "backup"))

    def callbacks(initial_epoch, kill=None):
        best = EpochCheckpoint(best_path, monitor="loss", mode="min", history_path=history_path,
                               initial_epoch=initial_epoch)  # fmt: skip
        return [HistoryFile(history_path, initial_epoch=initial_epoch), best, *([kill] if kill else []), backup], best

    model = tiny_model(3, head_channels=8)
    model.compile(keras.optimizers.Adam(1e-2))
    with pytest.raises(Killed):
        model.fit(*data, batch_size=4, epochs=3, callbacks=callbacks(0, _KillBeforeTheBackup(3))[0], verbose=0)
    assert list(pending_best_files(best_path)) == [3]

    resumed = model  # the same model object (one traced train step), its weights put back to the backup's
    initial_epoch = backup.restore(resumed)
    assert initial_epoch == 2
    callback_list, best = callbacks(initial_epoch)
    best.set_model(resumed)
    best.on_train_begin()
    losses = read_history(history_path)["loss"][:2]
    assert pending_best_files(best_path) == {} and best.best == min(losses)
    best_model = keras.saving.load_model(best_path)  # the weights of the committed epoch with the lowest loss
    if losses[1] < losses[0]:  # then they are the backup's epoch-2 weights
        for saved, loaded in zip(resumed.weights, best_model.weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(loaded))
    resumed.fit(*data, batch_size=4, epochs=4, initial_epoch=initial_epoch, callbacks=callback_list, verbose=0)
    assert read_history(history_path)["epoch"] == [1, 2, 3, 4]
    assert best.best == min(read_history(history_path)["loss"])
    assert sorted(os.listdir(tmp_path)) == ["backup", "best.keras", "history.json"]


def test_one_callback_serves_every_fit_of_a_run(tmp_path):
    # a resumed run calls fit once per segment (the rest of the epoch it stopped in, then whole epochs)
    history, best_path = tmp_path / "history.json", tmp_path / "best_val_AP.keras"
    callback = EpochCheckpoint(str(best_path), monitor="val_AP", history_path=str(history), initial_epoch=0)
    values = {1: 0.5, 2: 0.6, 3: 0.3, 4: 0.4}
    model = MarkerModel()
    _run_epochs([HistoryFile(str(history)), callback], model, 2, logs_of=lambda epoch: {"val_AP": values[epoch]})
    _run_epochs([HistoryFile(str(history), initial_epoch=2), callback], model, 4, 2,
                logs_of=lambda epoch: {"val_AP": values[epoch]})  # fmt: skip
    assert _read(best_path) == "epoch 2" and (callback.best, callback.best_epoch) == (0.6, 2)


def test_pending_names_never_match_the_epoch_pattern(tmp_path):
    pending = pending_best_path(str(tmp_path / "best_val_AP.keras"), 7)
    assert os.path.basename(pending) == "best_val_AP.pending-epoch_007.keras"
    _touch(tmp_path, os.path.basename(pending))
    assert epoch_checkpoints(str(tmp_path / PATTERN)) == {}
    assert pending_best_files(str(tmp_path / "best_val_AP.keras")) == {7: pending}


def test_settle_pending_best_without_a_fit(tmp_path):
    # killed after the last epoch's backup, before fit ended: the rerun has no epoch left to fit
    best = str(tmp_path / "best_val_AP.keras")
    _touch(tmp_path, "best_val_AP.keras", *(os.path.basename(pending_best_path(best, n)) for n in (3, 5, 6)))
    assert settle_pending_best(best, 5) == 5
    assert _files(tmp_path) == ["best_val_AP.keras"] and _read(tmp_path / "best_val_AP.keras").endswith("005.keras")
    assert settle_pending_best(best, 5) is None
