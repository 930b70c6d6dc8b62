"""`horovodrun --gloo -np 2 -H localhost:2` on CPU: a tiny CenterNet trained on two TFRecord shards.

Each rank starts from its own random initialization and reads its own shard; the worker
(horovod_worker.py) wires the library's Horovod pieces as `keras-centernet train` does.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.tensorflow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "horovod_worker.py")
EPOCHS = 2


def _horovodrun():
    pytest.importorskip("horovod.tensorflow")
    path = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    path = path if os.path.exists(path) else shutil.which("horovodrun")
    if not path:
        pytest.skip("horovodrun not found (build Horovod with scripts/install_horovod.sh)")
    return path


def run_horovod(data_dir, out, configs):
    command = [_horovodrun(), "--gloo", "-np", "2", "-H", "localhost:2", sys.executable, WORKER]
    command += ["--data_dir", str(data_dir), "--out", str(out), "--epochs", str(EPOCHS)]
    for config in configs:
        command += ["--config", config]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


def load_rank(out, config, rank):
    folder = os.path.join(out, config.replace(":", "-"), f"rank{rank}")
    weights = np.load(os.path.join(folder, "weights.npz"))
    with open(os.path.join(folder, "logs.json")) as f:
        logs = json.load(f)
    return folder, {k: weights[k] for k in weights.files}, logs


def check_synchronous_training(out, config):
    """Identical weights on both ranks, rank-0-only writes, logged metrics = mean of the ranks' own."""
    folder0, weights0, logs0 = load_rank(out, config, 0)
    folder1, weights1, logs1 = load_rank(out, config, 1)
    assert logs0["size"] == 2
    assert weights0.keys() == weights1.keys()
    model_keys = [k for k in weights0 if k.startswith("model/")]
    assert any("kernel" in k for k in model_keys) and any("moving_mean" in k for k in model_keys)
    different = [k for k in weights0 if not np.array_equal(weights0[k], weights1[k])]
    assert different == [], f"{config}: weights differ between ranks: {different[:5]}"
    # Steps the optimizer applied (mixed_float16 skips the first steps whose scaled gradients overflow).
    applied = int(weights0["optimizer/adam/iteration"])
    assert applied == EPOCHS * 3 if "float32" in config else 1 <= applied <= EPOCHS * 3

    # Only the chief writes the checkpoint and the performance summary.
    assert os.path.exists(os.path.join(folder0, "checkpoint.weights.h5"))
    assert not os.path.exists(os.path.join(folder1, "checkpoint.weights.h5"))
    assert not os.path.exists(os.path.join(folder1, "summary", "summary.json"))
    with open(os.path.join(folder0, "summary", "summary.json")) as f:
        summary = json.load(f)
    assert summary["num_devices"] == 2 and summary["global_batch_size"] == 4
    assert summary["steps"] == EPOCHS * 3 and summary["throughput"] > 0
    assert summary["versions"]["horovod"] == "0.28.1"

    # History on every rank = average of the two ranks' own epoch logs (which differ: different shards).
    # A key only rank 0 logged is left alone (not averaged, no mismatched all-reduce).
    assert logs0["history"].pop("chief_metric") == [7.0] * EPOCHS and "chief_metric" not in logs1["history"]
    assert logs0["history"] == logs1["history"]
    for key in ("loss", "heatmap_loss", "size_loss", "offset_loss"):
        for epoch in range(EPOCHS):
            local = [logs0["local"][epoch][key], logs1["local"][epoch][key]]
            assert local[0] != local[1]
            assert logs0["history"][key][epoch] == pytest.approx(np.mean(local), rel=1e-6)
    return summary


def test_float32_ranks_stay_identical_and_unreduced_ranks_drift(tiny_records, tmp_path):
    run_horovod(tiny_records, tmp_path, ["float32:none", "float32:off"])
    summary = check_synchronous_training(tmp_path, "float32:none")
    assert summary["precision"] == "float32"
    # Negative control: the same run without the gradient reducer ends with different weights.
    _, weights0, _ = load_rank(tmp_path, "float32:off", 0)
    _, weights1, _ = load_rank(tmp_path, "float32:off", 1)
    kernels = [k for k in weights0 if k.startswith("model/") and k.endswith("kernel")]
    assert all(not np.array_equal(weights0[k], weights1[k]) for k in kernels)


def test_fp16_compression_ranks_stay_identical(tiny_records, tmp_path):
    run_horovod(tiny_records, tmp_path, ["float32:fp16"])
    check_synchronous_training(tmp_path, "float32:fp16")


def test_mixed_float16_ranks_stay_identical(tiny_records, tmp_path):
    run_horovod(tiny_records, tmp_path, ["mixed_float16:none"])
    summary = check_synchronous_training(tmp_path, "mixed_float16:none")
    assert summary["precision"] == "mixed_float16"
    _, weights0, _ = load_rank(tmp_path, "mixed_float16:none", 0)
    assert any("loss_scale" in k or "dynamic_scale" in k for k in weights0), sorted(weights0)[-10:]
