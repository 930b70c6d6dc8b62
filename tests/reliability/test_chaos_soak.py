"""Chaos soak (issue 18): the seed recipe's schedule in miniature, interrupted ten times, ends where an
uninterrupted run does.

The seed's run is 140 epochs of 1,000 steps on 8-16 ranks, COCO mAP every 10 epochs, x0.1 drops at 9/14 and 12/14
of the run. Here: 140 epochs of 2 steps under `horovodrun -np 2` (tiny model, 64 px, 8 training images), COCO
evaluation every 10 epochs, drops at steps 180 and 240, the resume state also every 3 s (--backup_every_minutes
0.05). One run goes through uninterrupted; the other is interrupted at ten random steps by a mix of what a long run
lives through, each time followed by the same command:

- sigterm_one_rank: SIGTERM to one rank (a node's scheduler or spot notice): the ranks agree after the step, both
  back up at that step and exit 143;
- sigterm_horovodrun: SIGTERM to horovodrun, which passes it to the ranks (and kills them 5 s later);
- kill_9_job: SIGKILL of horovodrun and both ranks (the last backup is at most 3 s or an epoch old);
- kill_9_one_rank: SIGKILL of one rank (a lost node): horovodrun ends the other.

Tolerance: none. Every resume continues from one step's exact state (weights, optimizer, BatchNorm statistics of
each rank) with the same data (`pipeline.seeded_passes`), and the same arithmetic on the same values gives the same
bits, so the interrupted run's weights, its COCO metrics and its backups equal the uninterrupted run's exactly.
"""

import collections
import glob
import json
import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest

from tests.distributed.rank_state import (
    check_ranks_identical,
    horovodrun_path,
    rank_env,
    rank_pid,
    read_state,
    wait_for,
)

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.tensorflow]

EPOCHS, STEPS_PER_EPOCH, KEEP = 140, 2, 3
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
LEARNING_RATE, GLOBAL_BATCH = 4e-2, 4  # 2 ranks x 2 images
KINDS = ("sigterm_one_rank", "sigterm_horovodrun", "kill_9_job", "kill_9_one_rank")


@pytest.fixture(scope="module")
def soak_records(tmp_path_factory):
    """8 training images (2 shards: one a rank) and 4 validation images, 64 px synthetic shapes."""
    from keras_centernet.data.synthetic import make_synthetic_dataset, write_synthetic_split

    data_dir = str(tmp_path_factory.mktemp("soak_records"))
    images, boxes, labels = make_synthetic_dataset(8, image_size=64, max_boxes=8, seed=21)
    write_synthetic_split(data_dir, "train", images, boxes, labels, num_shards=2)
    images, boxes, labels = make_synthetic_dataset(4, image_size=64, max_boxes=8, seed=22)
    write_synthetic_split(data_dir, "val", images, boxes, labels, first_id=100)
    return data_dir


def launch(data_dir, model_dir, log_path, keep=KEEP):
    command = [
        horovodrun_path(), "--gloo", "-np", "2", "-H", "localhost:2", "--gloo-timeout-seconds", "30",
        "keras-centernet", "train", "--use_horovod", "--data_dir", data_dir, "--model_dir", model_dir,
        "--backbone", "tiny", "--neck", "fpn", "--head_channels", "8", "--image_size", "64", "--batch_size", "2",
        "--max_boxes", "8", "--num_train_steps", str(TOTAL_STEPS), "--steps_per_epoch", str(STEPS_PER_EPOCH),
        "--learning_rate", str(LEARNING_RATE), "--eval_every", "10", "--keep_checkpoints", str(keep),
        "--backup_every_minutes", "0.05", "--use_gpu", "false", "--seed", "3", "--verbose", "0",
    ]  # fmt: skip
    log = open(log_path, "w")  # noqa: SIM115 (the child writes it; closed by the caller's wait)
    return subprocess.Popen(command, env=rank_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def last_step(model_dir):
    """The last step in steps.csv (the chief appends a row after each step), 0 before the first."""
    path = os.path.join(model_dir, "steps.csv")
    if not os.path.exists(path):
        return 0
    with open(path) as file:
        rows = [line.split(",")[0] for line in file.read().splitlines()[1:]]
    return max((int(row) for row in rows if row.isdigit()), default=0)


def _reached(model_dir, target, process):
    """A condition: the run logged step `target`, or ended."""
    return lambda: last_step(model_dir) >= target or process.poll() is not None


def rank_pids(model_dir):
    return [pid for pid in (rank_pid(model_dir, rank) for rank in (0, 1)) if pid]


def interrupt(kind, process, model_dir, rng):
    """Applies `kind` to the running job (see the module docstring)."""
    pids = wait_for(lambda: len(rank_pids(model_dir)) == 2 and rank_pids(model_dir), 30, "both ranks' pids")
    if kind == "sigterm_one_rank":
        os.kill(pids[rng.randint(0, 1)], signal.SIGTERM)
    elif kind == "sigterm_horovodrun":
        os.kill(process.pid, signal.SIGTERM)
    elif kind == "kill_9_job":
        for pid in (process.pid, *pids):
            os.kill(pid, signal.SIGKILL)
    else:
        os.kill(pids[rng.randint(0, 1)], signal.SIGKILL)


def run_to_end(data_dir, model_dir, log_path, keep=KEEP):
    process = launch(data_dir, model_dir, log_path, keep)
    assert process.wait(timeout=1800) == 0, open(log_path).read()[-6000:]


def interrupted_run(data_dir, model_dir, log_dir):
    """Ten interruptions at random steps, spaced so each lands in a run that has passed its start; returns the
    kinds applied and, for the SIGTERMs, the steps their backups hold."""
    rng = random.Random(18)
    targets = [6 + 25 * i + rng.randint(0, 12) for i in range(10)]  # steps 6..243, >= 13 apart
    kinds = [KINDS[i % len(KINDS)] for i in range(10)]
    rng.shuffle(kinds)
    applied, sigterm_steps = collections.Counter(), []
    for number, (target, kind) in enumerate(zip(targets, kinds)):
        log_path = os.path.join(log_dir, f"run_{number}.log")
        process = launch(data_dir, model_dir, log_path)
        try:
            wait_for(_reached(model_dir, target, process), 900, f"step {target}")
            assert process.poll() is None, f"the run ended before step {target}:\n" + open(log_path).read()[-4000:]
            interrupt(kind, process, model_dir, rng)
            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        wait_for(lambda: not rank_pids(model_dir), 60, "no rank left after the interruption")
        output = open(log_path).read()
        assert returncode != 0 and "train: wrote" not in output, output[-4000:]
        if kind.startswith("sigterm"):
            states = [read_state(model_dir, rank) for rank in (0, 1)]
            assert states[0]["step"] == states[1]["step"] >= target, states
            assert output.count(f"stopped by SIGTERM after step {states[0]['step']}") == 2, output[-4000:]
            sigterm_steps.append(states[0]["step"])
        applied[kind] += 1
    return applied, sigterm_steps


def expected_learning_rate(step):
    """The plan of the run, written out: the rate of 1-based step `step` (schedule at step - 1): lr x 4 / 64, x0.1
    from step 180 (round(280 x 9/14)) and again from 240 (round(280 x 12/14)); no warm-up."""
    peak = LEARNING_RATE * GLOBAL_BATCH / 64
    return peak * 0.1 ** sum(step - 1 >= boundary for boundary in (180, 240))


def _weights(path):
    import keras

    model = keras.saving.load_model(path)
    return model, [keras.ops.convert_to_numpy(v) for v in model.weights]


@pytest.mark.timeout(2400)  # ~8 min on an idle 2-core machine, 15+ on a loaded one (pyproject's default is 900 s)
def test_ten_mixed_interruptions_end_with_the_uninterrupted_runs_weights(soak_records, tmp_path):
    from keras_centernet.callbacks.step_log import read_step_log

    reference, model_dir = str(tmp_path / "uninterrupted"), str(tmp_path / "interrupted")
    start = time.monotonic()
    run_to_end(soak_records, reference, str(tmp_path / "uninterrupted.log"), keep=EPOCHS)  # every epoch's file
    uninterrupted_seconds = time.monotonic() - start
    applied, sigterm_steps = interrupted_run(soak_records, model_dir, str(tmp_path))
    run_to_end(soak_records, model_dir, str(tmp_path / "final.log"))
    print(f"soak: uninterrupted {uninterrupted_seconds:.0f} s; interrupted run {time.monotonic() - start:.0f} s "
          f"in all, survived {dict(applied)}; SIGTERM backups at steps {sigterm_steps}")  # fmt: skip
    assert sum(applied.values()) == 10 and set(applied) == set(KINDS)

    # The weights (every array of the final model and of both ranks' last backups) equal the uninterrupted run's.
    model, weights = _weights(os.path.join(model_dir, "model.keras"))
    _, expected = _weights(os.path.join(reference, "model.keras"))
    assert int(model.optimizer.iterations.numpy()) == TOTAL_STEPS
    assert all(np.array_equal(a, b) for a, b in zip(weights, expected, strict=True))
    check_ranks_identical(model_dir, 2, EPOCHS, STEPS_PER_EPOCH)

    # Every step once, at the planned learning rate; every epoch once in history.json, with the same COCO metrics.
    log = read_step_log(os.path.join(model_dir, "steps.csv"))
    assert log["step"] == list(range(1, TOTAL_STEPS + 1))
    np.testing.assert_allclose(log["learning_rate"], [expected_learning_rate(s) for s in log["step"]], rtol=1e-6)
    with open(os.path.join(model_dir, "history.json")) as file, open(os.path.join(reference, "history.json")) as ref:
        history, reference_history = json.load(file), json.load(ref)
    assert history["epoch"] == list(range(1, EPOCHS + 1))
    evaluated = [epoch for epoch, ap in zip(history["epoch"], history["val_AP"]) if ap is not None]
    assert evaluated == list(range(10, EPOCHS + 1, 10))
    assert history["val_AP"] == reference_history["val_AP"] and history["val_AP50"] == reference_history["val_AP50"]

    # At most K + 1 epoch checkpoints (here the last K), and the best checkpoint holds the best epoch: the one the
    # uninterrupted run (which kept every epoch's checkpoint) wrote at the first evaluation with the highest val_AP.
    checkpoints = sorted(os.listdir(os.path.join(model_dir, "checkpoints")))
    assert checkpoints == ["best_val_AP.keras"] + [f"epoch_{e:03d}.keras" for e in range(EPOCHS - KEEP + 1, EPOCHS + 1)]
    best_epoch = evaluated[int(np.argmax([history["val_AP"][e - 1] for e in evaluated]))]
    _, best = _weights(os.path.join(model_dir, "checkpoints", "best_val_AP.keras"))
    _, expected_best = _weights(os.path.join(reference, "checkpoints", f"epoch_{best_epoch:03d}.keras"))
    assert all(np.array_equal(a, b) for a, b in zip(best, expected_best, strict=True)), best_epoch
    assert not glob.glob(os.path.join(model_dir, "**", "*.tmp-*"), recursive=True)
    assert not glob.glob(os.path.join(model_dir, "**", ".*.tmp-*"), recursive=True)
