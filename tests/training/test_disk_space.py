"""The free-space check before training: the estimate against the files a tiny run really writes, a shortfall
refused in one line naming both numbers (shutil.disk_usage monkeypatched: no disk is filled), enough space passes."""

import collections
import os

import keras
import pytest

from keras_centernet import atomic_files
from keras_centernet.callbacks.backup import CrashSafeBackup
from keras_centernet.callbacks.checkpoint import BEST_CHECKPOINT, EPOCH_CHECKPOINT_PATTERN, EpochCheckpoint, save_model
from keras_centernet.training import disk_space
from keras_centernet.training.disk_space import (
    ESTIMATE_MARGIN,
    check_disk_space,
    estimate_disk_use,
    file_sizes,
    human_bytes,
)
from keras_centernet.validation import InputError

Usage = collections.namedtuple("Usage", "total used free")


def _model(tiny_model):
    model = tiny_model(3, head_channels=8)
    model.compile(keras.optimizers.Adam(1e-3))
    return model


def _free(monkeypatch, free):
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda path: Usage(10 * free + 1, 9 * free + 1, free))


def _within_margin(estimate, real):
    return real <= estimate <= real * (1 + ESTIMATE_MARGIN)


def _run_files_bytes(model_dir):
    """Bytes of the .keras and .weights.h5 files under model_dir, temporaries included."""
    total = 0
    for folder, _, names in os.walk(model_dir):
        total += sum(os.path.getsize(os.path.join(folder, n)) for n in names if n.endswith((".keras", ".weights.h5")))
    return total


class _LogsValAP(keras.callbacks.Callback):
    """Puts an improving val_AP in the epoch's logs, as COCO evaluation would (so every epoch writes a best)."""

    def on_epoch_end(self, epoch, logs=None):
        logs["val_AP"] = 0.1 * (epoch + 1)


def test_the_estimate_is_within_its_margin_of_a_tiny_runs_files_and_peak(tmp_path, tiny_model, synthetic_64,
                                                                          monkeypatch):  # fmt: skip
    model_dir = str(tmp_path / "run")
    model = _model(tiny_model)
    before = estimate_disk_use(model, model_dir, keep_checkpoints=2, keep_best=True, epochs=3)  # optimizer not built
    peak = [0]
    real_replace = os.replace

    def measuring_replace(source, destination):  # each rename: the new file complete, the old one still there
        peak[0] = max(peak[0], _run_files_bytes(model_dir))
        real_replace(source, destination)

    monkeypatch.setattr(atomic_files.os, "replace", measuring_replace)
    checkpoints = os.path.join(model_dir, "checkpoints")
    callbacks = [
        _LogsValAP(),
        EpochCheckpoint(os.path.join(checkpoints, EPOCH_CHECKPOINT_PATTERN), keep=2),
        EpochCheckpoint(os.path.join(checkpoints, BEST_CHECKPOINT), monitor="val_AP"),
        CrashSafeBackup(os.path.join(model_dir, "backup", "rank_0")),
    ]
    images, boxes, labels = synthetic_64
    model.fit(images[:4], {"boxes": boxes[:4], "labels": labels[:4]}, batch_size=4, epochs=3, callbacks=callbacks,
              verbose=0)  # fmt: skip
    save_model(model, os.path.join(model_dir, "model.keras"))

    real_checkpoint = os.path.getsize(os.path.join(checkpoints, "epoch_003.keras"))
    backups = [n for n in os.listdir(os.path.join(model_dir, "backup", "rank_0")) if n.endswith(".weights.h5")]
    real_weights = os.path.getsize(os.path.join(model_dir, "backup", "rank_0", backups[0]))
    after = estimate_disk_use(model, model_dir, keep_checkpoints=2, keep_best=True, epochs=3)
    for estimate in (before, after):
        assert _within_margin(estimate.checkpoint_bytes, real_checkpoint), (estimate, real_checkpoint)
        assert _within_margin(estimate.weights_bytes, real_weights), (estimate, real_weights)
    assert _within_margin(before.peak_bytes, peak[0]), (before, peak[0])  # the run's largest moment, measured
    assert sorted(os.listdir(checkpoints)) == ["best_val_AP.keras", "epoch_002.keras", "epoch_003.keras"]
    # what is there now is the steady state: 2 epoch checkpoints, the best, model.keras and one backup
    assert after.existing_bytes == _run_files_bytes(model_dir)
    assert _within_margin(4 * after.checkpoint_bytes + after.weights_bytes, after.existing_bytes)


def test_a_shortfall_is_refused_in_one_line_naming_both_numbers_and_the_fix(tmp_path, tiny_model, monkeypatch):
    model = _model(tiny_model)
    estimate = estimate_disk_use(model, str(tmp_path), keep_checkpoints=3, keep_best=True)
    _free(monkeypatch, estimate.needed_bytes - 1)
    with pytest.raises(InputError) as error:
        check_disk_space(model, str(tmp_path), keep_checkpoints=3, keep_best=True)
    message = str(error.value)
    checkpoint = human_bytes(estimate.checkpoint_bytes)
    assert message == (
        f"--model_dir {str(tmp_path)!r} has {human_bytes(estimate.needed_bytes - 1)} free, the run needs "
        f"{human_bytes(estimate.needed_bytes)} more: it keeps up to {human_bytes(estimate.peak_bytes)} "
        f"(3 epoch checkpoints of {checkpoint} + 2 best_val_AP.keras files of {checkpoint} + 2 backup weights files "
        f"of {human_bytes(estimate.weights_bytes)}): free space, lower --keep_checkpoints, or use another --model_dir"
    )
    assert "\n" not in message and estimate.needed_bytes == estimate.peak_bytes  # nothing there yet


def test_enough_space_passes_and_reports_the_estimate(tmp_path, tiny_model, monkeypatch):
    model = _model(tiny_model)
    needed = estimate_disk_use(model, str(tmp_path / "new"), keep_checkpoints=3).needed_bytes
    _free(monkeypatch, needed)
    estimate = check_disk_space(model, str(tmp_path / "new"), keep_checkpoints=3)  # a folder not made yet
    assert estimate.free_bytes == needed and estimate.needed_bytes == needed
    checkpoint, weights = file_sizes(model)
    assert estimate.peak_parts == ((4, "epoch checkpoint", checkpoint), (1, "backup weights file", weights))


def test_files_already_there_count_and_the_first_new_file_must_fit(tmp_path, tiny_model, monkeypatch):
    model = _model(tiny_model)
    checkpoint, weights = file_sizes(model)
    checkpoints = tmp_path / "checkpoints"
    (tmp_path / "backup" / "rank_0").mkdir(parents=True)
    checkpoints.mkdir()
    sizes = {}
    for name, size in [("checkpoints/epoch_004.keras", checkpoint), ("checkpoints/epoch_005.keras", checkpoint),
                       ("checkpoints/epoch_006.keras", checkpoint), ("checkpoints/best_val_AP.keras", checkpoint),
                       ("backup/rank_0/step_000000012.weights.h5", weights), ("model.keras", checkpoint),
                       ("checkpoints/notes.keras", 10**9)]:  # fmt: skip
        with open(tmp_path / name, "wb") as file:
            file.truncate(size)  # sparse: the size without the bytes
        sizes[name] = size
    estimate = estimate_disk_use(model, str(tmp_path), keep_checkpoints=3, keep_best=True)
    assert estimate.existing_bytes == sum(sizes.values()) - 10**9  # only the run's own files
    # its largest moment: 3 epoch checkpoints, the best and its replacement, 2 backups, the old model.keras
    assert estimate.peak_bytes == 6 * checkpoint + 2 * weights
    assert estimate.needed_bytes == checkpoint + weights
    # a folder full of an earlier run's epoch checkpoints: they go once the first new one is written
    for epoch in range(7, 20):
        with open(checkpoints / EPOCH_CHECKPOINT_PATTERN.format(epoch=epoch), "wb") as file:
            file.truncate(checkpoint)
    estimate = estimate_disk_use(model, str(tmp_path), keep_checkpoints=3, keep_best=True)
    assert estimate.needed_bytes == checkpoint
    _free(monkeypatch, checkpoint - 1)
    with pytest.raises(InputError, match="has .* free, the run needs .* more"):
        check_disk_space(model, str(tmp_path), keep_checkpoints=3, keep_best=True)


def test_keep_zero_keep_every_epoch_and_ranks(tmp_path, tiny_model, monkeypatch):
    model = _model(tiny_model)
    checkpoint, weights = file_sizes(model)
    zero = estimate_disk_use(model, str(tmp_path), keep_checkpoints=0)
    assert zero.peak_bytes == checkpoint + weights  # model.keras at the end, beside the backup
    every = estimate_disk_use(model, str(tmp_path), keep_checkpoints=None, epochs=5)
    assert every.peak_bytes == 6 * checkpoint + weights  # 5 epochs, 6 while the fifth is written
    assert estimate_disk_use(model, str(tmp_path), keep_checkpoints=3, epochs=1).peak_bytes == 2 * checkpoint + weights
    eight = estimate_disk_use(model, str(tmp_path), keep_checkpoints=1, backup_copies=8)
    assert eight.peak_bytes == checkpoint + 16 * weights  # every rank's backup rotating at once
    with pytest.raises(ValueError, match="needs epochs"):
        estimate_disk_use(model, str(tmp_path), keep_checkpoints=None)
    with pytest.raises(InputError, match="--keep_checkpoints must be an integer >= 0"):
        check_disk_space(model, str(tmp_path), keep_checkpoints=-1)
    _free(monkeypatch, 1)
    with pytest.raises(InputError) as error:
        check_disk_space(model, str(tmp_path), keep_checkpoints=0, argument="model_dir")
    assert str(error.value).endswith(
        "(1 backup weights file of 23 MB + 1 model.keras of 23 MB): free space, or use another model_dir"
    )


def test_human_bytes():
    assert [human_bytes(n) for n in (512, 1000, 23_456_789, 690_000_000, 1_234_567_890, 3.4e12, 5e15)] == [
        "512 B", "1.0 kB", "23 MB", "690 MB", "1.2 GB", "3.4 TB", "5000 TB",
    ]  # fmt: skip
