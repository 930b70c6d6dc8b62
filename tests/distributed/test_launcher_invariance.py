"""One learning-rate rule for every launcher: the same global batches from the same initial weights give the same
learning rates and the same weights after 3 steps on one device (batch 2B), MirroredStrategy over 2 logical CPU
devices (B each), JAX DataParallel over 2 CPU devices (B each) and `horovodrun --gloo -np 2` (B per rank).

Each launcher is a subprocess of launcher_invariance_worker.py (which builds the schedule as `train()` does:
`make_learning_rate_schedule(learning_rate, runtime.global_batch_size(per-device batch), lr_boundaries(steps),
reference_batch_size=...)`); the one-device run writes the initial weights the others load. Measured on CPU: every
launcher within 3e-8 of the one-device weights after 3 plain SGD steps that move weights by up to 0.046; the test
allows ATOL = 1e-6 (a 2x learning-rate error would differ by ~1e-2).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.distributed.launcher_invariance_worker import (
    GLOBAL_BATCH,
    LEARNING_RATE,
    REFERENCE_BATCH,
    STEPS,
)

pytestmark = [pytest.mark.slow, pytest.mark.tensorflow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher_invariance_worker.py")
ATOL = 1e-6
# The rule: LEARNING_RATE is stated for REFERENCE_BATCH images; a global batch of GLOBAL_BATCH trains at the scaled
# rate, x0.1 from step 2 (lr_boundaries(3) == [2]); no warm-up. Rates at steps 0..3:
PEAK = LEARNING_RATE * GLOBAL_BATCH / REFERENCE_BATCH
EXPECTED_RATES = [PEAK, PEAK, PEAK * 0.1, PEAK * 0.1]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


def _horovodrun():
    path = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    path = path if os.path.exists(path) else shutil.which("horovodrun")
    try:
        import horovod.tensorflow  # noqa: F401
    except ImportError:
        return None
    return path


def _launch(launcher, out):
    command = [sys.executable, WORKER, "--launcher", launcher, "--out", str(out), "--init", str(out / "init.npz")]
    env = _env()
    if launcher == "data_parallel":
        env.update(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    if launcher == "horovod":
        command = [_horovodrun(), "--gloo", "-np", "2", "-H", "localhost:2", *command]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _available(launcher):
    if launcher == "data_parallel":
        try:
            import jax  # noqa: F401
        except ImportError:
            return False
    return launcher != "horovod" or _horovodrun() is not None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{launcher: (returncode, output)} after the one-device run (which writes init.npz) and then the others,
    side by side."""
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("launchers")
    single = subprocess.run(
        [sys.executable, WORKER, "--launcher", "single", "--out", str(out), "--init", str(out / "init.npz"),
         "--write_init"], env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-5000:]
    processes = {name: _launch(name, out) for name in ("mirrored", "data_parallel", "horovod") if _available(name)}
    results = {"single": (0, "")}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        results[name] = (process.returncode, output)
    return out, results


def _load(out, launcher, rank=0):
    folder = out / launcher / f"rank{rank}"
    with open(folder / "lr.json") as f:
        trace = json.load(f)
    weights = np.load(folder / "weights.npz")
    return trace, {k: weights[k] for k in weights.files}


def _max_difference(weights, reference):
    assert sorted(weights) == sorted(reference)
    return max(float(np.max(np.abs(weights[k] - reference[k]))) for k in reference)


def test_one_device_follows_the_stated_rule_and_moves_the_weights(runs):
    out, _ = runs
    trace, weights = _load(out, "single")
    assert trace["global_batch"] == GLOBAL_BATCH and trace["num_devices"] == 1
    assert trace["iterations"] == list(range(STEPS + 1))
    assert trace["rates"] == pytest.approx(EXPECTED_RATES, rel=1e-6)
    initial = np.load(out / "init.npz")
    moved = max(float(np.max(np.abs(weights[k] - initial[k]))) for k in weights)
    assert moved > 1000 * ATOL, moved  # the tolerance is small next to what 3 steps change


@pytest.mark.parametrize(
    "launcher, strategy, backend",
    [
        ("mirrored", "mirrored", "tensorflow"),
        ("data_parallel", "data_parallel", "jax"),
        pytest.param("horovod", "horovod", "tensorflow", marks=pytest.mark.horovod),
    ],
)
def test_launcher_matches_one_device(runs, launcher, strategy, backend):
    out, results = runs
    if launcher not in results:
        pytest.skip(f"{launcher}: {'jax' if launcher == 'data_parallel' else 'horovod/horovodrun'} not installed")
    returncode, output = results[launcher]
    assert returncode == 0, output[-6000:]
    _, reference = _load(out, "single")
    ranks = 2 if launcher == "horovod" else 1
    for rank in range(ranks):
        trace, weights = _load(out, launcher, rank)
        assert (trace["strategy"], trace["backend"]) == (strategy, backend)
        assert trace["num_devices"] == 2 and trace["global_batch"] == GLOBAL_BATCH
        assert trace["iterations"] == list(range(STEPS + 1))
        assert trace["rates"] == pytest.approx(EXPECTED_RATES, rel=1e-6)
        difference = _max_difference(weights, reference)
        print(f"{launcher} rank {rank}: max |w - w_one_device| = {difference:.3g} (tolerance {ATOL:g})")
        assert difference <= ATOL, f"{launcher} rank {rank}: weights differ from one device by {difference}"
