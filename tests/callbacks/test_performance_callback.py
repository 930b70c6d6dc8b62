"""PerformanceCallback against a train step that advances a fake clock by known amounts (no sleeps, no wall time)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_centernet.callbacks.performance import SUMMARY_FILE, PerformanceCallback

WARMUP_SECONDS = 1.2  # the warm-up steps are 3x slower: counting them would move throughput by 25 %
STEP_SECONDS = 0.4
OUTSIDE_SECONDS = 0.05  # time between steps (callbacks, data): in e2e_time, never in throughput


class FakeClock:
    """Seconds that move only when told to."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class TimedModel(keras.Model):
    """A model whose train step takes `warmup_seconds` of the fake clock for the first `slow_steps`, then
    `step_seconds`; `on_step_end` adds OUTSIDE_SECONDS between steps."""

    def __init__(self, clock, slow_steps, warmup_seconds=WARMUP_SECONDS, step_seconds=STEP_SECONDS):
        super().__init__()
        self.clock = clock
        self.dense = keras.layers.Dense(1)
        self.slow_steps = slow_steps
        self.warmup_seconds = warmup_seconds
        self.step_seconds = step_seconds
        self.steps = 0

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        self.clock.advance(self.warmup_seconds if self.steps < self.slow_steps else self.step_seconds)
        self.steps += 1
        return {"loss": 0.0}


class BetweenSteps(keras.callbacks.Callback):
    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def on_train_batch_end(self, batch, logs=None):
        self.clock.advance(OUTSIDE_SECONDS)


def _fit(tmp_path, *, steps, warmup_steps, batch_size=4, num_devices=1, steps_per_execution=1, is_chief=True,
         warmup_seconds=WARMUP_SECONDS, step_seconds=STEP_SECONDS):
    clock = FakeClock()
    model = TimedModel(clock, warmup_steps, warmup_seconds, step_seconds)
    model.compile(run_eagerly=True, steps_per_execution=steps_per_execution)
    x = np.zeros((steps * batch_size, 3), "float32")
    lines = []
    callback = PerformanceCallback(
        batch_size=batch_size, num_devices=num_devices, warmup_steps=warmup_steps, output_dir=str(tmp_path),
        precision="float32", is_chief=is_chief, print_fn=lines.append, clock=clock,
    )  # fmt: skip
    start = clock()
    model.fit(x, np.zeros((len(x), 1)), batch_size=batch_size, epochs=1, verbose=0,
              callbacks=[callback, BetweenSteps(clock)])  # fmt: skip
    return callback, clock() - start, lines


def _read_summary(tmp_path):
    with open(os.path.join(tmp_path, SUMMARY_FILE)) as f:
        return json.load(f)


def test_throughput_matches_the_step_time_and_excludes_warmup(tmp_path):
    callback, elapsed, lines = _fit(tmp_path, steps=12, warmup_steps=2, batch_size=4, num_devices=2)
    summary = _read_summary(tmp_path)
    assert summary == callback.summary
    assert summary["throughput"] == pytest.approx(4 * 2 / STEP_SECONDS, rel=1e-9)  # global images / step time
    assert summary["throughput_per_device"] == pytest.approx(4 / STEP_SECONDS, rel=1e-9)
    assert summary["step_time"] == pytest.approx(STEP_SECONDS, rel=1e-9)
    assert summary["timed_time"] == pytest.approx(10 * STEP_SECONDS, rel=1e-9)
    assert summary["steps"] == 12 and summary["timed_steps"] == 10 and summary["warmup_steps"] == 2
    assert summary["batch_size"] == 4 and summary["global_batch_size"] == 8 and summary["num_devices"] == 2
    assert summary["precision"] == "float32"
    # e2e covers the warm-up and the time between steps: all the fake time of the fit.
    expected_e2e = 2 * WARMUP_SECONDS + 10 * STEP_SECONDS + 12 * OUTSIDE_SECONDS
    assert summary["e2e_time"] == pytest.approx(expected_e2e, rel=1e-9) and elapsed == pytest.approx(expected_e2e)
    assert summary["devices"] and summary["versions"]["keras"] == keras.__version__
    assert "keras_centernet" in summary["versions"]
    assert len(lines) == 1 and "20.0 images/s" in lines[0] and "e2e_time 7.0 s" in lines[0]


def test_steps_per_execution_counts_every_step(tmp_path):
    # 4 steps per train-function call: hooks fire once per call. 14 steps = calls 0-3 (warm-up), 4-7, 8-11
    # and a short last call 12-13 (Keras reports it as 12-15). Each call runs train_step 4 (or 2) times.
    callback, _, _ = _fit(tmp_path, steps=14, warmup_steps=4, batch_size=2, steps_per_execution=4,
                          warmup_seconds=0.3, step_seconds=0.3)  # fmt: skip
    summary = callback.summary
    assert summary["steps"] == 14 and summary["warmup_steps"] == 4 and summary["timed_steps"] == 10
    assert summary["steps_per_execution"] == 4
    assert summary["throughput"] == pytest.approx(2 / 0.3, rel=1e-9)


def test_not_chief_measures_but_writes_nothing(tmp_path):
    callback, _, lines = _fit(tmp_path, steps=3, warmup_steps=1, is_chief=False)
    assert callback.summary["timed_steps"] == 2
    assert not os.path.exists(os.path.join(tmp_path, SUMMARY_FILE)) and lines == []


def test_too_few_steps_reports_no_throughput(tmp_path):
    callback, _, lines = _fit(tmp_path, steps=2, warmup_steps=2)
    assert callback.summary["throughput"] is None and "no throughput" in lines[0]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        PerformanceCallback(batch_size=0)


@pytest.mark.slow
def test_summary_on_jax_without_tensorflow(tmp_path):
    """The callback and its device/version report work on Keras-on-JAX without importing TensorFlow."""
    code = f"""
import sys, json
import keras, numpy as np
from keras_centernet.callbacks.performance import PerformanceCallback
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile("sgd", "mse")
cb = PerformanceCallback(batch_size=2, warmup_steps=1, output_dir={str(tmp_path)!r}, print_fn=lambda s: None)
model.fit(np.zeros((8, 3)), np.zeros((8, 1)), batch_size=2, verbose=0, callbacks=[cb])
print(json.dumps({{"summary": cb.summary, "tf": "tensorflow" in sys.modules}}))
"""
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    summary = result["summary"]
    assert summary["backend"] == "jax" and summary["devices"][0].startswith("cpu:")
    assert summary["steps"] == 4 and summary["timed_steps"] == 3 and summary["throughput"] > 0
    assert "jax" in summary["versions"]
    assert not result["tf"], "PerformanceCallback imported TensorFlow on the JAX backend"
