"""Free space checked before training: does `model_dir` hold what the run keeps at its peak?

A run keeps, at most at once: the newest K `checkpoints/epoch_NNN.keras` (K + 1 while a new one is written before
the oldest goes), `best_val_AP.keras` (two while an improvement waits for its epoch to be committed), `model.keras`
(two while a finished run that continues replaces it) and per rank one backup `.weights.h5` (two during its
rotation). `estimate_disk_use` sizes those files from the model's variables and takes the largest total over the
moments of a run; `check_disk_space` compares what that needs beyond the files already there with the free space.

The sizes: a `.keras` with its optimizer state and a `.weights.h5` are the bytes of the model's and the optimizer's
variables plus about 1 KB of HDF5 headers per variable (measured: 1023-1040 bytes, tiny model and ResNet-18-FPN;
Keras stores the zip uncompressed) plus the model's config. With `PER_VARIABLE_BYTES` and `FIXED_BYTES` rounded up
the estimate of one file is 0-1% above the real size (`ESTIMATE_MARGIN`, tested on a tiny run). When the optimizer
is not built yet, its slots are counted by building a copy of it on one small variable (Adam: 2 per weight).
TensorBoard logs, history.json and summary.json are not counted (kilobytes per epoch).
"""

import dataclasses
import glob
import os
import re
import shutil

import numpy as np

from keras_centernet.callbacks.checkpoint import (
    BEST_CHECKPOINT,
    EPOCH_CHECKPOINT_PATTERN,
    check_keep,
    epoch_checkpoints,
    pending_best_files,
)
from keras_centernet.training.config import MODEL_FILE
from keras_centernet.validation import InputError

PER_VARIABLE_BYTES = 1100  # HDF5 dataset header + group path per variable (measured 1023-1040)
FIXED_BYTES = 16 * 1024  # HDF5 superblock, root groups, zip headers, metadata.json
ESTIMATE_MARGIN = 0.01  # the estimate of one file is within [real, real x 1.01]
CHECKPOINT_FOLDER = "checkpoints"
BACKUP_FOLDER = "backup"


@dataclasses.dataclass(frozen=True)
class DiskEstimate:
    """What a run keeps in `model_dir`, in bytes.

    checkpoint_bytes: one `.keras` with the optimizer state (epoch checkpoint, best, model.keras).
    weights_bytes: one backup `.weights.h5` (model and optimizer variables).
    peak_bytes: the run's files at their largest moment; peak_parts: `((count, what, bytes each), ...)` of it.
    existing_bytes: those files already in `model_dir` (kept, replaced or removed by the run).
    needed_bytes: free space the run needs beyond them: peak - existing, and at least its first new file.
    free_bytes: `shutil.disk_usage(model_dir).free` (None from `estimate_disk_use`).
    """

    checkpoint_bytes: int
    weights_bytes: int
    peak_bytes: int
    peak_parts: tuple
    existing_bytes: int
    needed_bytes: int
    free_bytes: int = None

    def describe_peak(self):
        """`4 epoch checkpoints of 23 MB + 2 backup weights files of 23 MB`."""
        return " + ".join(f"{n} {_plural(what, n)} of {human_bytes(size)}" for n, what, size in self.peak_parts)


def human_bytes(count):
    """`1.2 GB`, `690 MB`, `512 B` (powers of 1000, like `df -H`)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            break
        value /= 1000
    if unit == "B":
        return f"{int(value)} B"
    return f"{value:.1f} {unit}" if abs(value) < 10 else f"{value:.0f} {unit}"


def _plural(what, count):
    if count == 1:
        return what
    return f"{what} files" if what.endswith(".keras") else f"{what}s"


def _dtype_bytes(dtype):
    name = str(getattr(dtype, "name", dtype))
    if name == "bool":
        return 1
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) // 8 if match else np.dtype(name).itemsize


def variable_bytes(variables):
    """Bytes of the values of `variables` (shape x dtype)."""
    return sum(int(np.prod(variable.shape, dtype=np.int64)) * _dtype_bytes(variable.dtype) for variable in variables)


def _probe_slots(optimizer):
    """(slot bytes per weight byte, slot variables per weight, (bytes, count) of other new variables) of
    `optimizer`, from a copy built on one 8x8 float32 variable; Adam's (2, 2, (0, 0)) when that fails."""
    try:
        import keras

        clone = optimizer.__class__.from_config(optimizer.get_config())
        probe = keras.Variable(np.zeros((8, 8), "float32"), name="disk_space_probe")
        before = len(clone.variables)
        clone.build([probe])
        created = clone.variables[before:]
        slots = [variable for variable in created if int(np.prod(variable.shape)) > 1]
        scalars = [variable for variable in created if int(np.prod(variable.shape)) <= 1]
        return variable_bytes(slots) / variable_bytes([probe]), len(slots), (variable_bytes(scalars), len(scalars))
    except Exception:  # an optimizer that cannot be copied or built outside its own setup: count it as Adam
        return 2.0, 2, (0, 0)


def optimizer_size(model):
    """(bytes, variable count) of `model.optimizer`'s variables once built (estimated when it is not yet)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return 0, 0
    if optimizer.built:
        return variable_bytes(optimizer.variables), len(optimizer.variables)
    per_byte, per_weight, (scalar_bytes, scalar_count) = _probe_slots(optimizer)
    trainable = model.trainable_variables
    existing = optimizer.variables
    return (
        int(per_byte * variable_bytes(trainable)) + scalar_bytes + variable_bytes(existing),
        per_weight * len(trainable) + scalar_count + len(existing),
    )


def _config_bytes(model):
    try:
        return len(model.to_json())
    except Exception:  # a model without a serializable config still saves its weights; its config is kilobytes
        return 4096


def file_sizes(model):
    """(bytes of one `.keras` with the optimizer state, bytes of one `.weights.h5`) as `model` will write them."""
    optimizer_bytes, optimizer_count = optimizer_size(model)
    weights = variable_bytes(model.weights) + optimizer_bytes
    weights += PER_VARIABLE_BYTES * (len(model.weights) + optimizer_count) + FIXED_BYTES
    return weights + _config_bytes(model), weights


def _peak(checkpoint, weights, keep, keep_best, copies, model_exists, files=1):
    """(total, parts) of the largest moment of a run: the epoch rotation, the best waiting for the backup's
    rotation (each backup folder holds `files` weights files between backups, one more while it writes), or the
    final model.keras."""
    best = 1 if keep_best else 0
    old_model = 1 if model_exists else 0
    kept, rotating = copies * files, copies * (files + 1)
    moments = (
        ((keep + 1 if keep else 0, checkpoint), (best, checkpoint), (kept, weights), (old_model, checkpoint)),
        ((keep, checkpoint), (2 * best, checkpoint), (rotating, weights), (old_model, checkpoint)),
        ((keep, checkpoint), (best, checkpoint), (kept, weights), (1 + old_model, checkpoint)),
    )
    names = ("epoch checkpoint", "best_val_AP.keras", "backup weights file", "model.keras")
    total, moment = max(((sum(n * size for n, size in moment), moment) for moment in moments), key=lambda t: t[0])
    parts = tuple((n, name, size) for name, (n, size) in zip(names, moment) if n)
    return total, parts


def existing_bytes(model_dir, keep_best):
    """Bytes of the files in `model_dir` that a run keeps, replaces or removes (counted in its peak)."""
    checkpoints = os.path.join(model_dir, CHECKPOINT_FOLDER)
    paths = list(epoch_checkpoints(os.path.join(checkpoints, EPOCH_CHECKPOINT_PATTERN)).values())
    if keep_best:
        best = os.path.join(checkpoints, BEST_CHECKPOINT)
        paths += [best, *pending_best_files(best).values()]
    paths.append(os.path.join(model_dir, MODEL_FILE))
    backups = os.path.join(glob.escape(os.path.join(model_dir, BACKUP_FOLDER)), "**", "*.weights.h5")
    paths += glob.glob(backups, recursive=True)
    return sum(os.path.getsize(path) for path in paths if os.path.isfile(path))


def estimate_disk_use(
    model, model_dir, keep_checkpoints=3, keep_best=False, epochs=None, backup_copies=1, backup_files=1
):
    """The `DiskEstimate` (without free space) of a run of `model` (built, compiled) writing into `model_dir`.

    keep_checkpoints: K (`EpochCheckpoint(keep=K)`; None: every epoch, then `epochs` is required); keep_best:
    the run writes best_val_AP.keras (COCO evaluation on); epochs: the run's total epochs (caps K);
    backup_copies: backup folders written into `model_dir` (one per rank: the Horovod world size); backup_files:
    weights files each folder keeps between backups (`CrashSafeBackup.files_kept`).
    """
    keep = check_keep(keep_checkpoints)
    if keep is None and epochs is None:
        raise ValueError("estimate_disk_use: keep_checkpoints None (keep every epoch) needs epochs")
    if epochs is not None:
        keep = int(epochs) if keep is None else min(keep, int(epochs))
    checkpoint, weights = file_sizes(model)
    model_exists = os.path.isfile(os.path.join(model_dir, MODEL_FILE))
    peak, parts = _peak(checkpoint, weights, keep, keep_best, int(backup_copies), model_exists, int(backup_files))
    existing = existing_bytes(model_dir, keep_best)
    first_write = max(checkpoint if keep or keep_best else 0, int(backup_copies) * weights)
    return DiskEstimate(checkpoint, weights, peak, parts, existing, max(peak - existing, first_write))


def _existing_folder(path):
    path = os.path.abspath(path)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def check_disk_space(
    model, model_dir, keep_checkpoints=3, keep_best=False, epochs=None, backup_copies=1, backup_files=1,
    argument="--model_dir",
):
    """Raises InputError (one line: free space, what the run keeps, the fix) when `model_dir`'s file system has
    less free space than the run needs beyond the files already there; returns the `DiskEstimate` otherwise.

    Call it on the chief once the model is built and compiled (after the resume state is restored, so a built
    optimizer is measured), before `fit`. Arguments as `estimate_disk_use`.
    """
    estimate = estimate_disk_use(model, model_dir, keep_checkpoints, keep_best, epochs, backup_copies, backup_files)
    free = shutil.disk_usage(_existing_folder(model_dir)).free
    estimate = dataclasses.replace(estimate, free_bytes=free)
    if estimate.needed_bytes > free:
        already = f", {human_bytes(estimate.existing_bytes)} of it already there" if estimate.existing_bytes else ""
        lower = "lower --keep_checkpoints, " if keep_checkpoints else ""
        raise InputError(
            f"{argument} {model_dir!r} has {human_bytes(free)} free, the run needs "
            f"{human_bytes(estimate.needed_bytes)} more: it keeps up to {human_bytes(estimate.peak_bytes)} "
            f"({estimate.describe_peak()}){already}: "
            f"free space, {lower}or use another {argument}"
        )
    return estimate
