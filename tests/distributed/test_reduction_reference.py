"""Horovod reductions checked against values that do not come from the code under test (issue 10).

Identical weights on every rank hold whether gradients are averaged or summed, and Adam hides a constant factor,
so these tests use rank-dependent values with a known mean and one plain SGD step:

- gradients through `HorovodGradientReducer`: rank r sends r + 1, both ranks must get exactly 1.5 (sum: 3);
- BatchNorm moving statistics through `SyncNonTrainableVariablesCallback` and epoch logs through
  `MetricAverageCallback`: the same, exactly;
- one `keras.optimizers.SGD` step (no momentum) of `fit` on 2 ranks with batch B each equals one step written out
  by hand (tape + `compute_loss`, w - lr g) on one process with the concatenated batch 2 B.

One `horovodrun --gloo -np 2` run (tests/distributed/reference_worker.py) produces everything; the tests read it.
"""

import json
import os

import numpy as np
import pytest

from tests.distributed.test_horovodrun import ROOT, _horovodrun

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.tensorflow]

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_worker.py")
# Float32 round-off between a batch of 2 B and two batches of B (different summation order in the convolutions and
# the loss) stays below ~1e-6 of the weight change; a factor-2 error in the step is 1.0 of it.
DELTA_RTOL = 1e-4


@pytest.fixture(scope="module")
def horovod_reference(tmp_path_factory):
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("reduction_reference")
    command = [_horovodrun(), "--gloo", "-np", "2", "-H", "localhost:2", sys.executable, WORKER, "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    ranks = []
    for rank in range(2):
        with open(out / f"rank{rank}.json") as f:
            info = json.load(f)
        arrays = np.load(out / f"rank{rank}.npz")
        ranks.append((info, {k: arrays[k] for k in arrays.files}))
    return ranks


def test_reducer_gives_every_rank_the_exact_mean(horovod_reference):
    for info, _ in horovod_reference:
        assert info["size"] == 2
        for compression in ("none", "fp16"):
            reduced = info["reducer"][compression]
            assert reduced[1] is None  # a variable the loss does not touch keeps no gradient
            assert reduced[0] == [[1.5, 1.5]] * 3, (compression, reduced[0])
            assert reduced[2] == [1.5] * 5 and reduced[3] == [[1.5, 1.5]] * 2, (compression, reduced)
            # IndexedSlices (embedding-like gradients) become the dense [2, 3] mean: row 1 holds it, row 0 stays 0.
            assert reduced[4] == [[0.0] * 3, [1.5] * 3], (compression, reduced[4])
            # Dtypes are kept, also with the fp16 wire format.
            assert info["reducer"][compression + "_dtypes"] == ["float32", None, "float16", "float64", "float32"]


def test_batch_norm_statistics_and_logs_are_averaged_exactly(horovod_reference):
    for info, _ in horovod_reference:
        sync = info["sync"]
        assert sync and all(("moving_mean" in path) != ("moving_variance" in path) for path in sync)
        for path, (low, high) in sync.items():
            expected = 1.5 if "moving_mean" in path else 3.0  # mean of (1, 2) and of (2, 4); a sum gives 3 and 6
            assert low == high == expected, (path, low, high)
        assert info["metric"] == {"loss": 1.5, "heatmap_loss": 15.0}


def test_one_sgd_step_on_two_ranks_equals_one_step_on_the_concatenated_batch(horovod_reference):
    from tests.distributed.reference_worker import PER_RANK_BATCH, reference_batch, sgd_reference

    (info0, arrays0), (info1, arrays1) = horovod_reference
    assert info0["sgd_iterations"] == info1["sgd_iterations"] == 1
    initial = {k[len("initial/") :]: v for k, v in arrays0.items() if k.startswith("initial/")}
    assert initial and all(np.array_equal(v, arrays1["initial/" + k]) for k, v in initial.items())

    images, targets = reference_batch(2 * PER_RANK_BATCH)
    expected, losses = sgd_reference(initial, images, targets)
    loss = losses["loss"]
    # The ranks' own logged losses (one batch of B each) average to the loss of the 2 B batch: equal object counts.
    assert (info0["sgd_loss"] + info1["sgd_loss"]) / 2 == pytest.approx(loss, rel=1e-5)
    assert info0["sgd_loss"] != pytest.approx(info1["sgd_loss"], rel=1e-3)  # the ranks did see different data

    moved = 0
    for path, want in expected.items():
        delta_want = want - initial[path]
        for arrays in (arrays0, arrays1):
            delta = arrays["final/" + path] - initial[path]
            error = np.linalg.norm(delta - delta_want)
            assert error <= DELTA_RTOL * np.linalg.norm(delta_want) + 1e-9, (path, error, np.linalg.norm(delta_want))
            np.testing.assert_allclose(arrays["final/" + path], want, rtol=1e-5, atol=1e-7, err_msg=path)
        moved += np.linalg.norm(delta_want) > 1e-4 * max(np.linalg.norm(initial[path]), 1e-3)
    assert moved >= len(expected) // 2  # the step is large enough for a wrong factor to show in the weights
