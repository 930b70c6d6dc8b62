"""Horovod ranks whose backups disagree resume together at the chief's epoch (no rank trains an extra epoch).

A kill between two ranks' epoch-end saves leaves their backups an epoch apart (or a rank's backup lost with its
node's disk). Each rank resuming its own epoch would make one rank run an extra epoch alone and hang or fail the
job; `train` takes the chief's resume epoch (and its "finished" verdict) on every rank instead.
"""

import os
import shutil
import subprocess

import pytest

from tests.distributed.rank_state import check_ranks_identical, horovodrun_path, rank_env, tiny_train_flags

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.tensorflow]

STEPS_PER_EPOCH = 3


def run(data_dir, model_dir, epochs):
    command = [horovodrun_path(), "--gloo", "-np", "2", "-H", "localhost:2", "--gloo-timeout-seconds", "30",
               "keras-centernet", "train", "--use_horovod", "--data_dir", str(data_dir), "--model_dir", model_dir,
               *tiny_train_flags(epochs, STEPS_PER_EPOCH)]  # fmt: skip
    result = subprocess.run(command, env=rank_env(), capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout + result.stderr


def test_a_rank_without_its_backup_resumes_at_the_chiefs_epoch(tiny_records, tmp_path):
    model_dir = str(tmp_path / "model")
    code, output = run(tiny_records, model_dir, epochs=2)
    assert code == 0, output[-4000:]
    shutil.rmtree(os.path.join(model_dir, "backup", "rank_1"))  # rank 1 lost its state: it alone would restart at 0

    code, output = run(tiny_records, model_dir, epochs=2)  # the finished run stays finished on every rank
    assert code == 0 and "already finished its 6 steps" in output, output[-4000:]

    code, output = run(tiny_records, model_dir, epochs=3)
    assert code == 0, output[-4000:]
    assert "(after epoch 2) from" in output and "Epoch 1/3" not in output, output[-4000:]
    check_ranks_identical(model_dir, 2, 3, STEPS_PER_EPOCH)  # both ranks: epoch 3, 9 steps, identical arrays
