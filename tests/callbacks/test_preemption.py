"""PreemptionGuard: a backup at the current step on SIGTERM (then TrainingInterrupted) and every N seconds; and
the SIGTERM of a real train() run, resumed by the same call, ending with the uninterrupted run's weights."""

import os
import signal
import threading

import keras
import numpy as np
import pytest

from keras_centernet.callbacks.backup import CrashSafeBackup, read_state
from keras_centernet.callbacks.preemption import PreemptionGuard, TrainingInterrupted, sigterm_requests

pytestmark = pytest.mark.tensorflow


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Advance(keras.callbacks.Callback):
    """Moves the fake clock by `seconds` after each step, before the guard looks at it."""

    def __init__(self, clock, seconds):
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def on_train_batch_end(self, batch, logs=None):
        self.clock.now += self.seconds


def _fit(model, data, callbacks, epochs=1):
    images, boxes, labels = data
    model.fit(images[:16], {"boxes": boxes[:16], "labels": labels[:16]}, batch_size=2, epochs=epochs,
              callbacks=callbacks, verbose=0, shuffle=False)  # fmt: skip


def test_a_backup_every_n_seconds_inside_the_epoch(tmp_path, tiny_model, synthetic_64):
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    clock, saved = _Clock(), []
    backup = CrashSafeBackup(str(tmp_path / "backup"), seed=5)
    original_save = backup.save
    backup.save = lambda model, epochs: saved.append(original_save(model, epochs)["step"])
    guard = PreemptionGuard(backup, threading.Event(), steps_per_epoch=8, every_seconds=30, clock=clock)
    _fit(model, synthetic_64, [_Advance(clock, 11.0), guard])  # 8 steps of 11 s: due after steps 3 and 6
    assert saved == [3, 6]
    assert read_state(backup.backup_dir) == {"epoch": 0, "step": 6, "weights": "step_000000006.weights.h5",
                                             "seed": 5}  # fmt: skip


def test_a_request_writes_the_backup_at_this_step_and_stops(tmp_path, tiny_model, synthetic_64):
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    requested = threading.Event()
    backup = CrashSafeBackup(str(tmp_path / "backup"))

    class _RequestAtStep13(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 13:
                requested.set()

    guard = PreemptionGuard(backup, requested, steps_per_epoch=8, every_seconds=0)
    with pytest.raises(TrainingInterrupted, match="after step 13: the backup in .* holds it") as raised:
        _fit(model, synthetic_64, [_RequestAtStep13(), guard], epochs=2)  # epoch 2's 5th step: step 13
    assert raised.value.step == 13 and int(model.optimizer.iterations.numpy()) == 13
    assert read_state(backup.backup_dir)["step"] == 13 and read_state(backup.backup_dir)["epoch"] == 1


def test_ranks_that_disagree_follow_the_combined_decision(tmp_path, tiny_model, synthetic_64):
    """Horovod's all-reduce is stood in by `combine`: another rank's SIGTERM stops this one at the same step."""
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    calls = []

    def combine(stop, due):
        calls.append((stop, due))
        return (len(calls) == 2, False)  # the other rank was signalled during step 2

    guard = PreemptionGuard(CrashSafeBackup(str(tmp_path / "b")), threading.Event(), 8, 0, combine=combine)
    with pytest.raises(TrainingInterrupted, match="after step 2"):
        _fit(model, synthetic_64, [guard])
    assert calls == [(False, False), (False, False)]


def test_sigterm_inside_the_block_sets_the_event_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_requests() as requested:
        os.kill(os.getpid(), signal.SIGTERM)
        assert requested.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_then_the_same_train_call_ends_with_the_uninterrupted_weights(synthetic_records, tmp_path):
    """10 steps of 4-step epochs; SIGTERM during step 6 (mid-epoch 2). The rerun resumes at step 6, reads the same
    data, and ends bit-identical to a run never stopped: the same arithmetic on the same values (one process,
    the same thread pools), so no tolerance is needed."""
    from keras_centernet.callbacks.step_log import read_step_log
    from keras_centernet.training import train

    keywords = dict(backbone="tiny", neck="deconv", head_channels=8, image_size=64, batch_size=4,
                    num_train_steps=10, steps_per_epoch=4, seed=1, verbose=0, learning_rate=4e-2,
                    lr_boundaries="7")  # fmt: skip
    reference, _ = train(synthetic_records, str(tmp_path / "reference"), **keywords)

    model_dir = str(tmp_path / "stopped")
    original = PreemptionGuard.on_train_batch_end

    def signal_during_step_6(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == 6:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, batch, logs)

    PreemptionGuard.on_train_batch_end = signal_during_step_6
    try:
        with pytest.raises(TrainingInterrupted) as raised:
            train(synthetic_records, model_dir, **keywords)
    finally:
        PreemptionGuard.on_train_batch_end = original
    assert raised.value.step == 6 and read_state(os.path.join(model_dir, "backup", "rank_0"))["step"] == 6
    resumed, history = train(synthetic_records, model_dir, **keywords)
    assert int(resumed.optimizer.iterations.numpy()) == 10 and len(history["loss"]) == 2  # epoch 2's rest, epoch 3
    for expected, actual in zip(reference.weights, resumed.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected))
    log = read_step_log(os.path.join(model_dir, "steps.csv"))
    assert log["step"] == list(range(1, 11))
    peak = 4e-2 * 4 / 64  # learning_rate x global batch / lr_reference_batch, x0.1 from step 7 (0-based 7: row 8)
    np.testing.assert_allclose(log["learning_rate"], [peak] * 7 + [peak / 10] * 3, rtol=1e-6)
