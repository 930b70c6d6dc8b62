"""TrainingProgress against a train step that advances a fake clock by known amounts (no sleeps, no wall time)."""

import io

import keras
import numpy as np
import pytest

from keras_centernet.callbacks.progress import TrainingProgress, format_duration, progress_bar, progress_fields
from keras_centernet.validation import InputError


class FakeClock:
    """Seconds that move only when told to."""

    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


class TimedModel(keras.Model):
    """Each train step takes `seconds[i]` of the fake clock and logs loss = 10 / (i + 1)."""

    def __init__(self, clock, seconds):
        super().__init__()
        self.clock, self.seconds, self.steps = clock, seconds, 0
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        self.clock.now += self.seconds[self.steps % len(self.seconds)]
        self.steps += 1
        return {"loss": 10.0 / self.steps}


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _fit(seconds, steps, epochs=1, batch_size=2, stream=None, steps_per_execution=1, **kwargs):
    clock = FakeClock()
    model = TimedModel(clock, seconds)
    model.compile(run_eagerly=True, steps_per_execution=steps_per_execution)
    stream = io.StringIO() if stream is None else stream
    callback = TrainingProgress(global_batch_size=8, stream=stream, clock=clock, **kwargs)
    x = np.zeros((steps * batch_size, 3), "float32")
    model.fit(x, np.zeros((len(x), 1)), batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[callback])
    return stream.getvalue()


def test_log_lines_every_n_steps_with_rate_and_eta():
    # A first step of 6 s (tracing), 9 of 0.5 s, then 10 of 0.25 s (global batch 8): 16 and 32 images/s.
    out = _fit([6.0] + [0.5] * 9 + [0.25] * 10, steps=25, log_every_steps=10)
    assert out.splitlines() == [
        # Steps 2-10 in 4.5 s (the first step is left out); 15 steps left at 0.5 s/step = 7.5 s -> 0:00:08.
        "epoch 1/1 step 10/25 - loss 1.0000 - 16.0 images/s - ETA 0:00:08",
        # 10 steps in 2.5 s since the previous line; 5 left at 0.25 s.
        "epoch 1/1 step 20/25 - loss 0.5000 - 32.0 images/s - ETA 0:00:01",
    ]


def test_every_epoch_starts_its_own_window_and_counts_from_one():
    out = _fit([1.0], steps=4, epochs=2, log_every_steps=2)
    losses = [10 / 2, 10 / 4, 10 / 6, 10 / 8]  # the model's step counter runs across epochs
    expected = []
    for epoch in (1, 2):
        for step, eta in ((2, "0:00:02"), (4, "0:00:00")):
            expected.append(f"epoch {epoch}/2 step {step}/4 - loss {losses.pop(0):.4f} - 8.0 images/s - ETA {eta}")
    assert out.splitlines() == expected


def test_steps_per_execution_prints_when_a_multiple_is_crossed():
    # 3 steps per call: the hooks see steps 3, 6, 9 and 10 (a short last call); 6 passes 5, 10 reaches 10.
    out = _fit([1.0], steps=10, steps_per_execution=3, log_every_steps=5)
    steps = [line.split()[3] for line in out.splitlines()]
    assert steps == ["6/10", "10/10"]


def test_nothing_on_ranks_other_than_the_chief():
    assert _fit([0.5], steps=6, log_every_steps=1, is_chief=False) == ""
    assert _fit([0.5], steps=6, stream=Terminal(), is_chief=False) == ""


def test_zero_turns_lines_off_and_bad_values_are_one_line_errors():
    assert _fit([0.5], steps=6, log_every_steps=0) == ""
    for bad in (-1, 2.5, True):
        with pytest.raises(InputError, match="log_every_steps must be an integer >= 0"):
            TrainingProgress(8, log_every_steps=bad)


def test_terminal_bar_redraws_in_place_and_clears_at_epoch_end():
    out = _fit([0.25], steps=4, stream=Terminal(), log_every_steps=1, refresh_seconds=0.4)
    # Steps end at 0.25, 0.5, 0.75, 1 s: drawn at step 1, at step 3 (0.5 s later) and at the last step.
    frames = out.split("\r")[1:]
    assert len(frames) == 5 and frames[-2:] == [" " * len(frames[-3]), ""]
    assert frames[0] == "[" + "=" * 7 + ">" + "." * 22 + "] 1/4 - loss 10.0000"  # no rate before a second step
    assert frames[1] == "[" + "=" * 22 + ">" + "." * 7 + "] 3/4 - loss 3.3333 - 32.0 images/s - ETA 0:00:00"
    assert frames[2] == "[" + "=" * 30 + "] 4/4 - loss 2.5000 - 32.0 images/s - ETA 0:00:00"


def test_formatting_helpers():
    assert format_duration(3725.4) == "1:02:05" and format_duration(59.5) == "0:01:00"
    assert progress_fields(3, None, 1.23456) == "3 - loss 1.2346"
    assert progress_fields(3, 10, None, 40.0, 0.7) == "3/10 - 40.0 images/s - ETA 0:00:01"
    assert progress_bar(5, 10, width=10) == "[=====>....] " and progress_bar(3, None) == ""


def test_train_flag_reaches_the_callback_list(tmp_path):
    import argparse
    import threading

    from keras_centernet.callbacks.backup import CrashSafeBackup
    from keras_centernet.commands.train import add_arguments, config_from_args
    from keras_centernet.training import builders
    from keras_centernet.training.plan import RunPlan

    class Runtime:
        use_horovod, is_chief, num_devices = False, False, 1

    def progress(*flags):
        args = add_arguments(argparse.ArgumentParser()).parse_args(
            ["--data_dir", "d", "--model_dir", str(tmp_path), *flags]
        )
        plan = RunPlan("float32", 16, 3, 5, 15, (), 1e-3, ())
        backup = CrashSafeBackup(str(tmp_path / "backup"))
        callbacks = builders.build_callbacks(config_from_args(args), Runtime(), plan, backup, 0, threading.Event())
        return [c for c in callbacks if isinstance(c, TrainingProgress)]

    (callback,) = progress("--log_every_steps", "7")
    assert callback.log_every_steps == 7 and callback.global_batch_size == 16 and callback.is_chief is False
    assert progress().pop().log_every_steps == 100
    assert progress("--verbose", "0") == []
