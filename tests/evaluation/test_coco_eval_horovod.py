"""CocoEvalCallback under `horovodrun --gloo -np 2`: rank 0 evaluates, both ranks log its numbers."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from keras_centernet.evaluation.coco import STAT_NAMES

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.tensorflow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coco_eval_worker.py")


def test_chief_evaluates_and_broadcasts(tmp_path):
    pytest.importorskip("horovod.tensorflow")
    horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    horovodrun = horovodrun if os.path.exists(horovodrun) else shutil.which("horovodrun")
    if not horovodrun:
        pytest.skip("horovodrun not found (build Horovod with scripts/install_horovod.sh)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    command = [horovodrun, "--gloo", "-np", "2", "-H", "localhost:2", sys.executable, WORKER, str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert rank0["evaluations"] == 1 and rank1["evaluations"] == 0
    assert set(f"val_{name}" for name in STAT_NAMES) <= set(rank0["logs"])
    assert rank0["logs"] == rank1["logs"]
