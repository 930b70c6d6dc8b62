"""`steps.csv`: the learning rate of every optimizer step and the epoch's running loss, across resumes.

    step,learning_rate,epoch_mean_loss
    1,0.0001,3.21
    ...

`learning_rate` is read from the optimizer just before its step (the schedule at the optimizer's own step
counter), so it shows what the run really used: after a resume it must go on as the plan says. `epoch_mean_loss`
is Keras's running mean of the loss since the epoch began (since the resume, in an epoch resumed mid-way). A row is
appended after each step; a rerun keeps the rows up to the step it resumes at (a row torn by `kill -9` is dropped).
"""

import csv
import os

import keras

from keras_centernet import atomic_files

COLUMNS = ("step", "learning_rate", "epoch_mean_loss")


def read_step_log(path):
    """{"step": [...], "learning_rate": [...], "epoch_mean_loss": [...]} from `path` (complete rows only); empty
    lists when it does not exist."""
    columns = {name: [] for name in COLUMNS}
    if not os.path.exists(path):
        return columns
    with open(path, newline="") as file:
        for row in csv.DictReader(file):
            try:
                values = (int(row["step"]), float(row["learning_rate"]), float(row["epoch_mean_loss"] or "nan"))
            except (TypeError, ValueError):
                continue  # a row a kill cut short
            for name, value in zip(COLUMNS, values):
                columns[name].append(value)
    return columns


class StepLog(keras.callbacks.Callback):
    """Appends a row to the csv at `path` after every step. `start_step`: steps done before this run; the rows of
    later steps (redone after a kill) are dropped when training begins."""

    def __init__(self, path, start_step=0):
        super().__init__()
        self.path = path
        self.step = int(start_step)
        self._begun = False

    def on_train_begin(self, logs=None):
        if self._begun:
            return  # a later model.fit of the same run
        kept = read_step_log(self.path)
        rows = [row for row in zip(*kept.values()) if row[0] <= self.step]
        with atomic_files.atomic_path(self.path) as temporary, open(temporary, "w", newline="") as file:
            csv.writer(file).writerows([COLUMNS, *rows])
        self._begun = True

    def on_train_batch_begin(self, batch, logs=None):
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        loss = (logs or {}).get("loss")
        loss = "" if loss is None else repr(float(loss))
        with open(self.path, "a") as file:
            file.write(f"{self.step},{self._rate!r},{loss}\n")
