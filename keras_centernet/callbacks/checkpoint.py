"""Crash-safe `.keras` checkpoints: the last K epochs, and the best so far by a monitored metric, kept across resumes.

Per-epoch checkpoints (`EpochCheckpoint(pattern, keep=K)`): after each epoch's file is durable (written to a temporary
name, flushed and renamed by `save_model`), every file in the folder that `pattern` produces other than the newest K
is removed, so a kill between the save and the removal, or files left by an earlier run, are cleaned up by the next
save. "Newest" is by epoch number up to the epoch just written; files of later epochs belong to epochs a resume is
redoing and are removed too (history.json drops their rows the same way).

Best checkpoint (`EpochCheckpoint(path, monitor="val_AP", history_path=..., initial_epoch=...)`): an improvement is
written to `NAME.pending-epoch_NNN.keras` and renamed onto `path` when the next epoch begins (or training ends),
i.e. after every callback of the epoch, the resume backup included, has run. So `path` only ever holds an epoch the
run has committed: a kill before the backup leaves a pending file that the resumed run discards (it redoes that
epoch), a kill after it leaves one the resumed run promotes. On resume the best value is the best of the
history.json rows of the committed epochs (<= initial_epoch), the same rows the resumed history keeps, so the file
is only replaced by a better value.
"""

import contextlib
import glob
import math
import os
import re
import string

import keras

from keras_centernet import atomic_files
from keras_centernet.callbacks.history_file import history_until, read_history
from keras_centernet.validation import InputError

EPOCH_CHECKPOINT_PATTERN = "epoch_{epoch:03d}.keras"  # under model_dir/checkpoints/
BEST_CHECKPOINT = "best_val_AP.keras"  # under model_dir/checkpoints/
_PENDING = ".pending-epoch_"


def save_model(model, path):
    """`model.save(path)` through a temporary file renamed into place (a kill never leaves a truncated .keras)."""
    with atomic_files.atomic_path(path) as temporary:
        model.save(temporary)


def check_keep(value, argument="--keep_checkpoints"):
    """K as an int >= 0 (0: no per-epoch checkpoints), or None (keep every one); else InputError naming `argument`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{argument} must be an integer >= 0 (0: no per-epoch checkpoints), got {value!r}")
    return value


def _split_pattern(pattern):
    """(prefix, suffix) around the one `{epoch...}` field of `pattern`'s file name, else ValueError."""
    name = os.path.basename(pattern)
    fields = [field for _, field, _, _ in string.Formatter().parse(name) if field is not None]
    if fields != ["epoch"] or "{" in os.path.dirname(pattern):
        raise ValueError(f"checkpoint pattern {pattern!r} must have exactly one {{epoch}} field, in its file name")
    prefix, suffix, seen = "", "", False
    for literal, field, _, _ in string.Formatter().parse(name):
        if seen:
            suffix += literal
        else:
            prefix += literal
        seen = seen or field is not None
    return prefix, suffix


def epoch_checkpoints(pattern):
    """`{epoch: path}` of the files in `pattern`'s folder that `pattern.format(epoch=N)` produces (N >= 1).

    Only exact products match: `epoch_007.keras` for `epoch_{epoch:03d}.keras`, not `epoch_7.keras`, not a
    temporary (`.epoch_007.keras.tmp-...`), not `best_val_AP.keras`.
    """
    prefix, suffix = _split_pattern(pattern)
    folder = os.path.dirname(pattern) or "."
    if not os.path.isdir(folder):
        return {}
    name = os.path.basename(pattern)
    found = {}
    for entry in os.listdir(folder):
        if not (entry.startswith(prefix) and entry.endswith(suffix) and len(entry) > len(prefix) + len(suffix)):
            continue
        digits = entry[len(prefix) : len(entry) - len(suffix)]
        if digits.isascii() and digits.isdigit() and int(digits) >= 1 and name.format(epoch=int(digits)) == entry:
            found[int(digits)] = os.path.join(os.path.dirname(pattern), entry)
    return found


def remove_surplus_checkpoints(pattern, keep, current_epoch):
    """Removes the files of `pattern` other than the newest `keep` with epochs <= `current_epoch` (later epochs are
    being redone); returns the removed paths. `keep` None removes nothing."""
    if keep is None:
        return []
    files = epoch_checkpoints(pattern)
    kept = sorted((epoch for epoch in files if epoch <= current_epoch), reverse=True)[:keep]
    removed = []
    for epoch, path in sorted(files.items()):
        if epoch not in kept:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
                removed.append(path)
    return removed


def pending_best_path(path, epoch):
    """Where an improvement of `epoch` waits until the epoch is committed: `NAME.pending-epoch_NNN.keras`."""
    root, extension = os.path.splitext(path)
    return f"{root}{_PENDING}{epoch:03d}{extension}"


def pending_best_files(path):
    """`{epoch: path}` of the pending best files beside `path`."""
    root, extension = os.path.splitext(path)
    matcher = re.compile(re.escape(os.path.basename(root) + _PENDING) + r"(\d+)" + re.escape(extension) + "$")
    found = {}
    for candidate in glob.glob(glob.escape(root) + _PENDING + "*" + glob.escape(extension)):
        match = matcher.match(os.path.basename(candidate))
        if match:
            found[int(match.group(1))] = candidate
    return found


def _promote(pending, path):
    """Renames a complete pending file onto `path`, durably (the folder's entry is flushed too)."""
    os.replace(pending, path)
    atomic_files.fsync_dir(os.path.dirname(os.path.abspath(path)))


def settle_pending_best(path, committed_epochs):
    """After a kill: the newest pending best of a committed epoch (<= `committed_epochs`, the backup's finished
    epochs) becomes `path`; pending files of epochs being redone are removed. Returns the promoted epoch or None.

    `EpochCheckpoint` does this when its run's first `fit` begins; call it yourself when a resumed run has no epoch
    left to fit (killed after its last backup, before `model.keras`)."""
    pending = pending_best_files(path)
    committed = [epoch for epoch in pending if epoch <= committed_epochs]
    promoted = max(committed) if committed else None
    for epoch, pending_path in pending.items():
        if epoch == promoted:
            _promote(pending_path, path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(pending_path)
    return promoted


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes `pattern.format(epoch=N)` (1-based) after every epoch, atomically, keeping the newest `keep`.

    With `monitor` (e.g. "val_AP"), writes `pattern` (no placeholder) only when the metric improves (`mode` max or
    min); epochs whose logs lack the metric are skipped.

    Args:
        pattern: per-epoch path with one `{epoch}` field (e.g. `DIR/epoch_{epoch:03d}.keras`), or the best
            checkpoint's path with `monitor`.
        monitor, mode: the metric of the best checkpoint and whether higher ("max") or lower ("min") is better.
        keep: per-epoch only. None: every epoch's file stays; K >= 1: after each save, the pattern's files other
            than the newest K are removed; 0: no per-epoch file is written and leftovers are removed at each
            epoch's end (the resume state is the backup, not these files).
        history_path: best only. history.json (`HistoryFile`); when training begins, the best is restored from
            its rows of epochs <= `initial_epoch`, so a resumed run replaces `pattern` only with a better value.
        initial_epoch: whole epochs finished before the run (re)started (the resume point: the backup's finished
            epochs, i.e. the first `fit`'s initial_epoch). One instance serves every `fit` of the run.
    """

    def __init__(self, pattern, monitor=None, mode="max", keep=None, history_path=None, initial_epoch=0):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if monitor is None:
            _split_pattern(pattern)
        elif keep is not None:
            raise ValueError("keep applies to per-epoch checkpoints, not to the best one (monitor)")
        self.pattern = pattern
        self.monitor = monitor
        self.mode = mode
        self.keep = check_keep(keep, "keep")
        self.history_path = history_path
        self.initial_epoch = int(initial_epoch)
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch = None
        self._pending = None
        self._started = False

    def _improved(self, value):
        return value > self.best if self.mode == "max" else value < self.best

    def restore_best(self, history, initial_epoch):
        """Sets `best` / `best_epoch` from the `history` rows (history.json's columns) of epochs <= `initial_epoch`;
        nothing to beat (±inf) when those rows hold no finite value or the best file is missing. Returns `best`."""
        self.best, self.best_epoch = (-math.inf if self.mode == "max" else math.inf), None
        rows = history_until(history, initial_epoch)
        pairs = [
            (float(value), int(epoch))
            for epoch, value in zip(rows.get("epoch", []), rows.get(self.monitor, []))
            if value is not None and math.isfinite(float(value))
        ]
        if pairs and os.path.isfile(self.pattern):
            sign = 1 if self.mode == "max" else -1
            self.best, self.best_epoch = max(pairs, key=lambda pair: (sign * pair[0], -pair[1]))
        return self.best

    def on_train_begin(self, logs=None):
        """The first `fit` of the run (a resumed run may call `fit` once per segment) settles the pending best and
        restores the best from history.json; later ones continue from where the previous `fit` ended."""
        if self.monitor is None or self._started:
            return
        self._started = True
        settle_pending_best(self.pattern, self.initial_epoch)
        if self.history_path is not None:
            self.restore_best(read_history(self.history_path), self.initial_epoch)

    def _commit_pending(self):
        """The pending best becomes the best: its epoch is committed (every callback of its end, the backup
        included, has run)."""
        if self._pending is not None:
            _promote(self._pending, self.pattern)
            self._pending = None

    def on_epoch_begin(self, epoch, logs=None):
        self._commit_pending()

    def on_train_end(self, logs=None):
        self._commit_pending()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is None:
            if self.keep != 0:
                save_model(self.model, self.pattern.format(epoch=epoch + 1))
            remove_surplus_checkpoints(self.pattern, self.keep, epoch + 1)  # only once the new file is durable
            return
        self._commit_pending()  # one of an earlier epoch (when no on_epoch_begin came between)
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)) and self._improved(float(value)):
            pending = pending_best_path(self.pattern, epoch + 1)
            save_model(self.model, pending)
            self._pending = pending
            self.best, self.best_epoch = float(value), epoch + 1

    def get_config(self):
        return {
            "pattern": self.pattern, "monitor": self.monitor, "mode": self.mode, "keep": self.keep,
            "history_path": self.history_path, "initial_epoch": self.initial_epoch,
        }  # fmt: skip
