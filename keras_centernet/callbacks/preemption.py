"""Backups inside an epoch: on SIGTERM (what Slurm, Kubernetes and spot instances send before they take a node) and
every `--backup_every_minutes`, so an interruption loses at most the current step (SIGTERM) or those minutes
(`kill -9`, a lost node), not the epoch.

`sigterm_requests()` turns SIGTERM into a request; `PreemptionGuard`, after each step, writes the backup at the
current step when a request came or the time is due, and on a request ends training with `TrainingInterrupted`
(exit status `INTERRUPTED_EXIT_STATUS` from the CLI). Under Horovod the ranks decide together after every step
(one all-reduce of two flags), so every rank backs up and stops at the same step, whichever rank got the signal.
"""

import contextlib
import signal
import threading
import time

import keras

INTERRUPTED_EXIT_STATUS = 143  # 128 + SIGTERM: what a shell reports for a process that SIGTERM ended


class TrainingInterrupted(RuntimeError):
    """Training stopped on SIGTERM after writing its backup; `step` is the optimizer step it was written at."""

    def __init__(self, step, backup_dir):
        super().__init__(
            f"stopped by SIGTERM after step {step}: the backup in {backup_dir} holds it; run the same command to "
            f"resume at step {step}"
        )
        self.step = int(step)
        self.backup_dir = backup_dir


@contextlib.contextmanager
def sigterm_requests():
    """Inside the block, SIGTERM sets the yielded `threading.Event` instead of ending the process (the previous
    handler is restored after). Off the main thread, where Python cannot install handlers, the event never sets."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: requested.set())
    try:
        yield requested
    finally:
        signal.signal(signal.SIGTERM, previous)


class PreemptionGuard(keras.callbacks.Callback):
    """After each step: a backup at this step when `requested` is set (then `TrainingInterrupted`) or when
    `every_seconds` passed since the last backup (0: never by time).

    Args:
        backup: the run's `CrashSafeBackup` (its `save(model, finished_epochs)` writes the state).
        requested: the event `sigterm_requests` sets.
        steps_per_epoch: to name the finished epochs of a mid-epoch backup (step // steps_per_epoch).
        every_seconds: time between backups; the epoch-end backup restarts the count.
        combine: None, or `f(stop, due) -> (stop, due)` that makes the ranks agree (Horovod: any rank's SIGTERM,
            the chief's clock); every rank must call it after every step.
        clock: seconds, monotonic (a fake one in tests).
    """

    def __init__(self, backup, requested, steps_per_epoch, every_seconds=0, combine=None, clock=time.monotonic):
        super().__init__()
        self.backup = backup
        self.requested = requested
        self.steps_per_epoch = int(steps_per_epoch)
        self.every_seconds = float(every_seconds)
        self.combine = combine
        self.clock = clock
        self._last = None

    def on_train_begin(self, logs=None):
        if self._last is None:
            self._last = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        stop = self.requested.is_set()
        due = self.every_seconds > 0 and self.clock() - self._last >= self.every_seconds
        if self.combine is not None:
            stop, due = self.combine(stop, due)
        if not (stop or due):
            return
        _refuse_non_finite_weights(self.model)
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.backup.save(self.model, step // self.steps_per_epoch)
        self._last = self.clock()
        if stop:
            raise TrainingInterrupted(step, self.backup.backup_dir)

    def on_epoch_end(self, epoch, logs=None):
        self._last = self.clock()  # the backup callback writes the epoch's state


def _refuse_non_finite_weights(model):
    """A backup never holds damage: NonFiniteLossError when a weight is NaN or infinite."""
    from keras_centernet.callbacks.nonfinite import NonFiniteLossError, non_finite_weights

    bad = non_finite_weights(model)
    if bad:
        raise NonFiniteLossError(
            f"{len(bad)} weights are not finite (e.g. {bad[0]}); stopped before the backup: the last good one is kept"
        )
