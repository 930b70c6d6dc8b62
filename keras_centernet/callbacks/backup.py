"""Crash-safe training state for resuming after an interruption (`kill -9`, SIGTERM, preemption).

`backup_dir/state.json` names the complete weights file of the last backup (`backup_dir/step_NNNNNNNNN.weights.h5`:
model and optimizer variables, the optimizer's step counter included) with the finished epochs, the optimizer
step and the run's data seed. A backup is written at every epoch end and, through `save`, mid-epoch (on SIGTERM and
every `--backup_every_minutes`, see `callbacks.preemption`). Each backup's weights are written under a new name,
then `state.json` is replaced atomically, then the previous weights file is removed: a kill at any moment leaves
`state.json` pointing at a complete file (Keras's BackupAndRestore overwrites one file in place, and a kill during
that write leaves a truncated file that every rerun then fails to load).
"""

import contextlib
import json
import os

import keras

from keras_centernet import atomic_files

STATE_FILE = "state.json"


def read_state(backup_dir):
    """The saved state `{"epoch": finished epochs, "step": optimizer steps, "weights": file name, "seed": the data
    seed}`, or None when there is none. States written before steps were recorded have no "step" and "seed"."""
    path = os.path.join(backup_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        state = json.load(file)
    if not os.path.isfile(os.path.join(backup_dir, state["weights"])):
        raise FileNotFoundError(f"{path} names {state['weights']}, which is missing: the backup folder was edited")
    return state


class CrashSafeBackup(keras.callbacks.Callback):
    """Saves the training state at the end of every epoch (and at any step through `save`); `restore(model)` loads
    it before `fit`.

    Args:
        backup_dir: folder of this process's state (one per Horovod rank).
        seed: the run's data seed, recorded in every state so a resumed run reads the same data order.

    Use: `state = backup.restore(model)`, then train from step `state["step"]` (`RunPlan.segments`) with
    `callbacks=[..., backup]`.
    """

    def __init__(self, backup_dir, seed=None):
        super().__init__()
        self.backup_dir = backup_dir
        self.seed = seed

    def restore(self, model):
        """Loads the last saved weights and optimizer state into `model` (built and compiled); returns the state
        (see `read_state`), or None when there is none."""
        if os.path.isdir(self.backup_dir):
            atomic_files.remove_stale_temporaries(self.backup_dir)
        state = read_state(self.backup_dir)
        if state is None:
            return None
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        return state

    def save(self, finished_epochs):
        """Writes the state now: the model's and optimizer's variables at the optimizer's current step, with
        `finished_epochs` (whole epochs done; a mid-epoch backup names the epoch it is in by the step)."""
        os.makedirs(self.backup_dir, exist_ok=True)
        previous = read_state(self.backup_dir)
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        weights = f"step_{step:09d}.weights.h5"
        path = os.path.join(self.backup_dir, weights)
        with atomic_files.atomic_path(path) as temporary:
            self.model.save_weights(temporary)
        state = {"epoch": int(finished_epochs), "step": step, "weights": weights, "seed": self.seed}
        atomic_files.write_json(os.path.join(self.backup_dir, STATE_FILE), state)
        if previous and previous["weights"] != weights:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(self.backup_dir, previous["weights"]))
        return state

    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1)
