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
import re

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
        barrier: None, or a callable that every rank calls between writing its weights file and its state.json
            (Horovod: `horovod.any_rank`). The chief's state.json then names only steps whose weights file every
            rank holds, and each folder also keeps its previous weights file: a rank that got one backup ahead of
            the chief (a kill between two ranks' state.json) still holds the chief's step.

    Use: `state = backup.restore(model, step)`, then train from the model's optimizer step (`RunPlan.segments`)
    with `callbacks=[..., backup]`.
    """

    def __init__(self, backup_dir, seed=None, barrier=None):
        super().__init__()
        self.backup_dir = backup_dir
        self.seed = seed
        self.barrier = barrier

    @property
    def files_kept(self):
        """Weights files the folder holds between backups: the last one, and with a barrier the one before."""
        return 2 if self.barrier is not None else 1

    def restore(self, model, step=None):
        """Loads the saved weights and optimizer state into `model` (built and compiled): those of `step` when this
        folder holds that step's file (a rank resuming at the chief's step), else those state.json names. Returns
        the state (see `read_state`; "step" and "weights" of the file loaded), or None when there is none."""
        if os.path.isdir(self.backup_dir):
            atomic_files.remove_stale_temporaries(self.backup_dir)
        state = read_state(self.backup_dir)
        if state is None:
            return None
        if step is not None and os.path.isfile(os.path.join(self.backup_dir, weights_file(step))):
            state = {**state, "step": int(step), "weights": weights_file(step)}
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        return state

    def save(self, model, finished_epochs):
        """Writes the state now: `model`'s and its optimizer's variables at the optimizer's current step, with
        `finished_epochs` (whole epochs done; a mid-epoch backup names the epoch it is in by the step). Returns it."""
        os.makedirs(self.backup_dir, exist_ok=True)
        step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        with atomic_files.atomic_path(os.path.join(self.backup_dir, weights_file(step))) as temporary:
            model.save_weights(temporary)
        if self.barrier is not None:
            self.barrier()
        state = {"epoch": int(finished_epochs), "step": step, "weights": weights_file(step), "seed": self.seed}
        atomic_files.write_json(os.path.join(self.backup_dir, STATE_FILE), state)
        self._remove_old_files(step)
        return state

    def _remove_old_files(self, step):
        """Removes the weights files other than the newest `files_kept` up to `step` (later ones: a redone run's)."""
        names = [name for name in os.listdir(self.backup_dir) if name.endswith(".weights.h5")]
        steps = sorted((_step_of(name), name) for name in names if (_step_of(name) or step + 1) <= step)
        keep = {name for _, name in steps[-self.files_kept:]}
        for name in names:
            if name not in keep and not name.startswith("."):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.backup_dir, name))

    def on_epoch_end(self, epoch, logs=None):
        self.save(self.model, epoch + 1)


def weights_file(step):
    """The backup weights file name of optimizer step `step`."""
    return f"step_{int(step):09d}.weights.h5"


def _step_of(name):
    """The step of a backup weights file name, or None for other names."""
    match = re.fullmatch(r"step_(\d+)\.weights\.h5", name)
    return int(match.group(1)) if match else None
