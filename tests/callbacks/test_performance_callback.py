"""PerformanceCallback against a train step with a known injected delay."""

import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_centernet.callbacks.performance import SUMMARY_FILE, PerformanceCallback

WARMUP_DELAY = 1.2  # the warm-up steps are 3x slower: counting them would move throughput by > 25 %
STEP_DELAY = 0.4  # long against Keras's own per-step overhead (~2 ms idle, ~10 ms on a loaded 2-core box)


class SleepyModel(keras.Model):
    """A model whose train step only sleeps: `warmup_delay` for the first `slow_steps`, then `step_delay`.

    `step_seconds` records how long each step really took inside train_step (sleep can overshoot on a
    busy machine), the reference the callback's timing is checked against.
    """

    def __init__(self, slow_steps, warmup_delay=WARMUP_DELAY, step_delay=STEP_DELAY):
        super().__init__()
        self.step_delay = step_delay
        self.dense = keras.layers.Dense(1)
        self.slow_steps = slow_steps
        self.warmup_delay = warmup_delay
        self.step_seconds = []

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        start = time.perf_counter()
        time.sleep(self.warmup_delay if len(self.step_seconds) < self.slow_steps else self.step_delay)
        self.step_seconds.append(time.perf_counter() - start)
        return {"loss": 0.0}


def _fit(
    tmp_path,
    *,
    steps,
    warmup_steps,
    batch_size=4,
    num_devices=1,
    steps_per_execution=1,
    is_chief=True,
    warmup_delay=WARMUP_DELAY,
    step_delay=STEP_DELAY,
):
    model = SleepyModel(slow_steps=warmup_steps, warmup_delay=warmup_delay, step_delay=step_delay)
    model.compile(run_eagerly=True, steps_per_execution=steps_per_execution)
    x = np.zeros((steps * batch_size, 3), "float32")
    lines = []
    callback = PerformanceCallback(
        batch_size=batch_size,
        num_devices=num_devices,
        warmup_steps=warmup_steps,
        output_dir=str(tmp_path),
        precision="float32",
        is_chief=is_chief,
        print_fn=lines.append,
    )
    start = time.perf_counter()
    model.fit(x, np.zeros((len(x), 1)), batch_size=batch_size, epochs=1, verbose=0, callbacks=[callback])
    return callback, time.perf_counter() - start, lines, model.step_seconds


def _read_summary(tmp_path):
    with open(os.path.join(tmp_path, SUMMARY_FILE)) as f:
        return json.load(f)


def test_throughput_matches_injected_delay_and_excludes_warmup(tmp_path):
    callback, wall, lines, step_seconds = _fit(tmp_path, steps=12, warmup_steps=2, batch_size=4, num_devices=2)
    summary = _read_summary(tmp_path)
    assert summary == callback.summary
    timed_seconds = sum(step_seconds[2:])  # the 10 steps after warm-up, as timed inside the steps
    expected = 4 * 2 * 10 / timed_seconds  # global images / time
    assert summary["throughput"] == pytest.approx(expected, rel=0.05)
    assert summary["throughput"] <= 4 * 2 / STEP_DELAY  # never faster than the injected delay allows
    assert summary["throughput_per_device"] == pytest.approx(expected / 2, rel=0.05)
    assert summary["step_time"] == pytest.approx(timed_seconds / 10, rel=0.05)
    assert summary["steps"] == 12 and summary["timed_steps"] == 10 and summary["warmup_steps"] == 2
    assert summary["batch_size"] == 4 and summary["global_batch_size"] == 8 and summary["num_devices"] == 2
    assert summary["precision"] == "float32"
    # e2e covers the warm-up too: at least every step's own time, at most the fit's wall time.
    assert sum(step_seconds) <= summary["e2e_time"] <= wall
    assert summary["devices"] and summary["versions"]["keras"] == keras.__version__
    assert "keras_centernet" in summary["versions"]
    assert len(lines) == 1 and "images/s" in lines[0] and "e2e_time" in lines[0]


def test_steps_per_execution_counts_every_step(tmp_path):
    # 4 steps per train-function call: hooks fire once per call. 14 steps = calls 0-3 (warm-up), 4-7, 8-11
    # and a short last call 12-13 (Keras reports it as 12-15).
    callback, _, _, step_seconds = _fit(
        tmp_path, steps=14, warmup_steps=4, batch_size=2, steps_per_execution=4, warmup_delay=0.3, step_delay=0.3
    )
    summary = callback.summary
    assert summary["steps"] == 14 and summary["warmup_steps"] == 4 and summary["timed_steps"] == 10
    assert summary["steps_per_execution"] == 4
    assert summary["throughput"] == pytest.approx(2 * 10 / sum(step_seconds[4:]), rel=0.05)


def test_not_chief_measures_but_writes_nothing(tmp_path):
    callback, _, lines, _ = _fit(tmp_path, steps=3, warmup_steps=1, is_chief=False, warmup_delay=0.0, step_delay=0.0)
    assert callback.summary["timed_steps"] == 2
    assert not os.path.exists(os.path.join(tmp_path, SUMMARY_FILE)) and lines == []


def test_too_few_steps_reports_no_throughput(tmp_path):
    callback, _, lines, _ = _fit(tmp_path, steps=2, warmup_steps=2, warmup_delay=0.0)
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
