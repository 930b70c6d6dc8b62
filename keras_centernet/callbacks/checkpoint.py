"""Crash-safe `.keras` checkpoints: every epoch, and the best so far by a monitored metric."""

import math

import keras

from keras_centernet import atomic_files


def save_model(model, path):
    """`model.save(path)` through a temporary file renamed into place (a kill never leaves a truncated .keras)."""
    with atomic_files.atomic_path(path) as temporary:
        model.save(temporary)


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes `pattern.format(epoch=N)` (1-based) after every epoch, atomically.

    With `monitor` (e.g. "val_AP"), writes `pattern` (no placeholder) only when the metric improves (`mode` max or
    min); epochs whose logs lack the metric are skipped.
    """

    def __init__(self, pattern, monitor=None, mode="max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.pattern = pattern
        self.monitor = monitor
        self.mode = mode
        self.best = -math.inf if mode == "max" else math.inf

    def _improved(self, value):
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is None:
            save_model(self.model, self.pattern.format(epoch=epoch + 1))
            return
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)) and self._improved(float(value)):
            self.best = float(value)
            save_model(self.model, self.pattern)

    def get_config(self):
        return {"pattern": self.pattern, "monitor": self.monitor, "mode": self.mode}
