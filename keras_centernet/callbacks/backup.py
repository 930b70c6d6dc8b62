"""Crash-safe training state for resuming after an interruption (`kill -9`, preemption).

`backup_dir/state.json` names the complete weights file of the last finished epoch
(`backup_dir/epoch_NNN.weights.h5`: model and optimizer variables). Each epoch's weights are written under a new
name, then `state.json` is replaced atomically, then the previous weights file is removed: a kill at any moment
leaves `state.json` pointing at a complete file (Keras's BackupAndRestore overwrites one file in place, and a kill
during that write leaves a truncated file that every rerun then fails to load).
"""

import contextlib
import json
import os

import keras

from keras_centernet import atomic_files

STATE_FILE = "state.json"


def read_state(backup_dir):
    """The saved state `{"epoch": finished epochs, "weights": file name}`, or None when there is none."""
    path = os.path.join(backup_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        state = json.load(file)
    if not os.path.isfile(os.path.join(backup_dir, state["weights"])):
        raise FileNotFoundError(f"{path} names {state['weights']}, which is missing: the backup folder was edited")
    return state


class CrashSafeBackup(keras.callbacks.Callback):
    """Saves the training state at the end of every epoch; `restore(model)` loads it before `fit`.

    Args:
        backup_dir: folder of this process's state (one per Horovod rank).

    Use: `initial_epoch = backup.restore(model)`, then `model.fit(..., initial_epoch=initial_epoch,
    callbacks=[backup, ...])`.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir

    def restore(self, model):
        """Loads the last saved weights and optimizer state into `model` (built and compiled); returns the number
        of finished epochs (0 when there is no saved state)."""
        if os.path.isdir(self.backup_dir):
            atomic_files.remove_stale_temporaries(self.backup_dir)
        state = read_state(self.backup_dir)
        if state is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        return int(state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        previous = read_state(self.backup_dir)
        weights = f"epoch_{epoch + 1:03d}.weights.h5"
        path = os.path.join(self.backup_dir, weights)
        with atomic_files.atomic_path(path) as temporary:
            self.model.save_weights(temporary)
        atomic_files.write_json(os.path.join(self.backup_dir, STATE_FILE), {"epoch": epoch + 1, "weights": weights})
        if previous and previous["weights"] != weights:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(self.backup_dir, previous["weights"]))
