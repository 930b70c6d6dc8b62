"""history.json that holds every epoch of a run across resumes, rewritten atomically after each epoch."""

import json
import os

import keras

from keras_centernet import atomic_files


def read_history(path):
    """`{"epoch": [1, 2, ...], "loss": [...], ...}` from `path`, or {} when it does not exist."""
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        return json.load(file)


def history_until(history, epochs):
    """The rows of `history` for epochs 1..`epochs` (a resumed run redoes the epochs after its last backup)."""
    keep = [i for i, epoch in enumerate(history.get("epoch", [])) if epoch <= epochs]
    return {key: [values[i] for i in keep] for key, values in history.items()}


class HistoryFile(keras.callbacks.Callback):
    """Appends each epoch's logs (as floats, with its 1-based "epoch") to the json at `path`.

    `initial_epoch`: epochs already done by an earlier run; rows after it (from epochs redone on resume) are
    dropped when training begins (the first `model.fit` of a run; later ones add to it), so each epoch appears once.
    """

    def __init__(self, path, initial_epoch=0):
        super().__init__()
        self.path = path
        self.initial_epoch = int(initial_epoch)
        self.history = None

    def on_train_begin(self, logs=None):
        if self.history is None:
            self.history = history_until(read_history(self.path), self.initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        rows = len(self.history.get("epoch", []))
        for key, value in {"epoch": epoch + 1, **(logs or {})}.items():
            column = self.history.setdefault(key, [None] * rows)
            column.append(float(value) if key != "epoch" else int(value))
        for column in self.history.values():  # a metric that appears late (val_AP) pads the earlier rows
            column.extend([None] * (rows + 1 - len(column)))
        atomic_files.write_json(self.path, self.history)
