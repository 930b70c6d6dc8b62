"""Helpers for the multi-process tests that run the real `keras-centernet train --use_horovod`: where horovodrun is,
the environment its ranks need, and each rank's saved training state (model_dir/backup/rank_N)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TWO_HOST_SCRIPT = os.path.join(ROOT, "scripts", "two_host_netns.sh")
TWO_NODE_RUN_SCRIPT = os.path.join(ROOT, "examples", "run_scripts", "Horovod_CenterNet_2Nodes.sh")


def horovodrun_path():
    """The venv's horovodrun (skips the test when Horovod is not built)."""
    pytest.importorskip("horovod.tensorflow")
    path = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    path = path if os.path.exists(path) else shutil.which("horovodrun")
    if not path:
        pytest.skip("horovodrun not found (build Horovod with scripts/install_horovod.sh)")
    return path


def rank_env(**extra):
    """Environment for horovodrun and its ranks: this venv first on PATH, TensorFlow backend, CPU only."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def tiny_train_flags(epochs, steps_per_epoch):
    """`keras-centernet train` flags for a tiny CPU run (they override the run scripts' recipe)."""
    return [
        "--backbone", "tiny", "--neck", "deconv", "--image_size", "64", "--batch_size", "2", "--max_boxes", "16",
        "--num_train_steps", str(epochs * steps_per_epoch), "--steps_per_epoch", str(steps_per_epoch),
        "--learning_rate", "1e-3", "--warmup_steps", "0", "--eval_every", "0", "--use_gpu", "false",
        "--use_performance", "--performance_warmup_steps", "1", "--seed", "3",
    ]  # fmt: skip


def read_state(model_dir, rank):
    path = os.path.join(model_dir, "backup", f"rank_{rank}", "state.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rank_weights(model_dir, rank):
    """Every array of rank `rank`'s last backup (model and optimizer variables) by its path in the .h5 file."""
    import h5py

    state = read_state(model_dir, rank)
    assert state is not None, f"rank {rank} wrote no backup state"
    arrays = {}

    def collect(name, item):
        if isinstance(item, h5py.Dataset):
            arrays[name] = item[()]

    with h5py.File(os.path.join(model_dir, "backup", f"rank_{rank}", state["weights"]), "r") as file:
        file.visititems(collect)
    return state, arrays


def optimizer_iterations(arrays):
    """The optimizer's step counter in a backup's arrays."""
    keys = [k for k in arrays if k.startswith("optimizer") and np.ndim(arrays[k]) == 0 and "iteration" in k]
    if not keys:  # Keras stores optimizer variables by index: the counter is the first int64 scalar
        keys = [k for k in sorted(arrays) if k.startswith("optimizer") and np.ndim(arrays[k]) == 0
                and np.asarray(arrays[k]).dtype.kind == "i"]  # fmt: skip
    assert keys, sorted(arrays)[:20]
    return int(arrays[keys[0]])


def check_ranks_identical(model_dir, num_ranks, epochs, steps_per_epoch):
    """Every rank's last backup is of the last epoch, holds bit-identical arrays and `epochs x steps` optimizer
    steps; returns (number of arrays, optimizer iterations, a checksum of rank 0's arrays)."""
    import hashlib

    state0, arrays0 = rank_weights(model_dir, 0)
    assert state0["epoch"] == epochs, state0
    assert any("kernel" in k or k.startswith("layers") for k in arrays0), sorted(arrays0)[:20]
    for rank in range(1, num_ranks):
        state, arrays = rank_weights(model_dir, rank)
        assert state["epoch"] == epochs, (rank, state)
        assert arrays.keys() == arrays0.keys()
        different = [k for k in arrays0 if not np.array_equal(arrays0[k], arrays[k])]
        assert different == [], f"rank {rank} differs from rank 0 in {len(different)} arrays: {different[:5]}"
    iterations = optimizer_iterations(arrays0)
    assert iterations == epochs * steps_per_epoch, (iterations, epochs, steps_per_epoch)
    digest = hashlib.sha256()
    for key in sorted(arrays0):
        digest.update(key.encode() + np.ascontiguousarray(arrays0[key]).tobytes())
    return len(arrays0), iterations, digest.hexdigest()[:16]


def rank_pid(model_dir, rank):
    """The pid of the `keras-centernet train` process of Horovod rank `rank` for this model_dir, or None."""
    found = subprocess.run(["pgrep", "-f", f"keras-centernet train .*{re.escape(model_dir)}"],
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    for pid in found:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if f"HOROVOD_RANK={rank}".encode() in environ and b"HOROVOD_SIZE=2" in environ:
            return int(pid)
    return None


def wait_for(condition, timeout, what):
    """`condition()`'s first true value, polled every 0.05 s; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
