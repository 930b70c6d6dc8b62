"""`keras-centernet train` as a user meets it: bad input refused up front, reruns, a second run, kill -9."""

import glob
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys

import keras
import pytest

from keras_centernet.cli import main
from keras_centernet.run_lock import RunLock
from keras_centernet.training import train

pytestmark = pytest.mark.tensorflow
KILLER = os.path.join(os.path.dirname(__file__), "kill_at_write.py")


def train_args(data_dir, model_dir, *extra, epochs=2, steps_per_epoch=3):
    return [
        "train", "--data_dir", data_dir, "--model_dir", model_dir, "--backbone", "tiny", "--image_size", "64",
        "--batch_size", "8", "--epochs", str(epochs), "--steps_per_epoch", str(steps_per_epoch), "--seed", "0",
        *extra,
    ]  # fmt: skip


def one_error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("keras-centernet train: error: "), lines
    return lines[0]


def _copy_split(source, target, cut_bytes=None):
    """Copies a dataset folder and breaks its first train shard: 0 bytes (others removed), or `cut_bytes` shorter."""
    shutil.copytree(source, target)
    first, *others = sorted(glob.glob(os.path.join(target, "tfrecords", "coco_train.record-*")))
    with open(first, "r+b") as file:
        file.truncate(0 if cut_bytes is None else os.path.getsize(first) - cut_bytes)
    for other in others if cut_bytes is None else ():
        os.remove(other)
    return first


@pytest.mark.parametrize(
    "change, expected",
    [
        (["--image_size", "100"], "--image_size must be a positive multiple of 32, got 100 (nearest: 96)"),
        (["--batch_size", "0"], "--batch_size must be an integer >= 1, got 0"),
        (["--steps_per_epoch", "0"], "--steps_per_epoch must be an integer >= 1, got 0"),
        (["--data_dir", "/no/such/folder"], "--data_dir '/no/such/folder': no such folder"),
        (["--fine_tune_ckpt", "/no/such.keras"], "--fine_tune_ckpt '/no/such.keras': no such file"),
    ],
)
def test_bad_arguments_get_one_line_before_anything_is_built(synthetic_records, tmp_path, capsys, change, expected):
    assert main([*train_args(synthetic_records, str(tmp_path / "run")), *change]) == 2  # the last flag wins
    assert expected in one_error_line(capsys)
    assert not (tmp_path / "run" / "model.keras").exists()


def test_an_unwritable_model_dir_is_refused_before_building(synthetic_records, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(train_args(synthetic_records, str(tmp_path / "file" / "run"))) == 2
    line = one_error_line(capsys)
    assert "--model_dir" in line and "not writable" in line


def test_an_empty_split_is_refused_and_nothing_is_written(synthetic_records, tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    _copy_split(synthetic_records, data_dir)  # one 0-byte shard, no other train shard
    assert main(train_args(data_dir, str(tmp_path / "run"))) == 2
    assert "0 records" in one_error_line(capsys)
    assert not os.path.exists(tmp_path / "run" / "model.keras")


def test_a_truncated_shard_is_named(synthetic_records, tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    shard = _copy_split(synthetic_records, data_dir, cut_bytes=100)
    assert main(train_args(data_dir, str(tmp_path / "run"))) == 2
    assert shard in one_error_line(capsys)


def test_a_second_live_run_in_the_same_model_dir_is_refused(synthetic_records, tmp_path, capsys):
    model_dir = str(tmp_path / "run")
    os.makedirs(model_dir)
    with RunLock(model_dir):  # another live run, as far as this process can tell (flock is per open file)
        assert main(train_args(synthetic_records, model_dir)) == 2
    assert f"in use by a live run (pid {os.getpid()} on " in one_error_line(capsys)


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_runs_of_one_two_and_three_steps(synthetic_records, tmp_path, steps, capsys):
    model, _ = train(
        synthetic_records, str(tmp_path / "run"), backbone="tiny", image_size=64, batch_size=4,
        num_train_steps=steps, warmup_steps=3, seed=0, verbose=1,
    )  # fmt: skip
    assert int(model.optimizer.iterations.numpy()) == steps
    warned = "--warmup_steps 3 >= the run's" in capsys.readouterr().out
    assert warned == (steps <= 3)


def test_num_train_steps_is_exact_whatever_the_steps_per_epoch(synthetic_records, tmp_path, capsys):
    """--num_train_steps 7 --steps_per_epoch 3: epochs of 3, 3 and 1 step; 7 optimizer steps; the first line, the
    drops (round(7 x 9/14) = 4, round(7 x 12/14) = 6) and every step's learning rate in steps.csv agree."""
    from keras_centernet.callbacks.step_log import read_step_log

    model_dir = str(tmp_path / "run")
    assert main(train_args(synthetic_records, model_dir, "--num_train_steps", "7", steps_per_epoch=3)) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "3 epoch(s) of 3 steps (the last 1) = 7 steps" in first and "x0.1 at steps 4,6" in first, first
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    assert int(model.optimizer.iterations.numpy()) == 7
    with open(os.path.join(model_dir, "history.json")) as file:
        assert json.load(file)["epoch"] == [1, 2, 3]
    log = read_step_log(os.path.join(model_dir, "steps.csv"))
    peak = 1e-3 * 8 / 64  # --learning_rate 1e-3 for 64 images, global batch 8
    assert log["step"] == [1, 2, 3, 4, 5, 6, 7]
    assert log["learning_rate"] == pytest.approx([peak] * 4 + [peak / 10] * 2 + [peak / 100], rel=1e-6)


def _digests(folder):
    digests = {}
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as file:
                digests[os.path.relpath(os.path.join(root, name), folder)] = hashlib.sha256(file.read()).hexdigest()
    return digests


def test_rerunning_a_finished_run_changes_nothing_and_a_longer_run_continues(synthetic_records, tmp_path, capsys):
    model_dir = str(tmp_path / "run")
    assert main(train_args(synthetic_records, model_dir)) == 0
    before = _digests(model_dir)
    assert main(train_args(synthetic_records, model_dir)) == 0
    assert "already finished its 6 steps" in capsys.readouterr().out
    assert _digests(model_dir) == before
    assert main(train_args(synthetic_records, model_dir, epochs=3)) == 0
    output = capsys.readouterr().out
    assert "(after epoch 2) from" in output and "Epoch 3/3" in output and "Epoch 2/3" not in output
    with open(os.path.join(model_dir, "history.json")) as file:
        assert json.load(file)["epoch"] == [1, 2, 3]
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    assert int(model.optimizer.iterations.numpy()) == 9


@pytest.mark.slow
def test_kill_9_at_ten_random_moments_then_the_same_command_finishes(synthetic_records, tmp_path):
    """Five kills at a random crash-safe write (temporary complete, not renamed) and five at a random time."""
    model_dir = str(tmp_path / "run")
    args = train_args(synthetic_records, model_dir, epochs=6, steps_per_epoch=4)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    rng = random.Random(9)
    for kill in range(10):
        at_write = kill % 2 == 0
        command = [KILLER, str(rng.randint(1, 8))] if at_write else ["-m", "keras_centernet.cli"]
        process = subprocess.Popen([sys.executable, *command, *args], env=env, stdout=subprocess.DEVNULL)
        try:
            process.wait(timeout=300 if at_write else rng.uniform(4.0, 14.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode in (0, -signal.SIGKILL), f"kill {kill}: exit {process.returncode}"
    final = subprocess.run([sys.executable, "-m", "keras_centernet.cli", *args], env=env, capture_output=True,
                           text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    assert int(model.optimizer.iterations.numpy()) == 24  # 6 epochs x 4 steps, whatever was redone
    with open(os.path.join(model_dir, "history.json")) as file:
        assert json.load(file)["epoch"] == [1, 2, 3, 4, 5, 6]
    checkpoints = sorted(os.listdir(os.path.join(model_dir, "checkpoints")))
    assert checkpoints == [f"epoch_{epoch:03d}.keras" for epoch in range(4, 7)]  # --keep_checkpoints 3
    backup = sorted(os.listdir(os.path.join(model_dir, "backup", "rank_0")))
    assert backup == ["state.json", "step_000000024.weights.h5"]
    assert not [name for name in _digests(model_dir) if ".tmp-" in name]
