"""examples/run_scripts/prepare_dataset.sh: the convert-coco calls it makes parse with the real CLI."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "run_scripts", "prepare_dataset.sh")
STUB = """#!/usr/bin/env bash
printf '%s\\0' "$@" >> "$RECORD_DIR/calls"
printf '\\n' >> "$RECORD_DIR/calls"
"""


def _run(tmp_path, **env_vars):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "keras-centernet").write_text(STUB)
    (bin_dir / "keras-centernet").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", RECORD_DIR=str(tmp_path), **env_vars)
    return subprocess.run(["bash", SCRIPT, "--workers", "4"], env=env, capture_output=True, text=True)


def test_prepare_dataset_converts_val_and_train(tmp_path):
    from keras_centernet.cli import build_parser

    result = _run(tmp_path, DATASET="/data/coco", DATASET_LABEL="/data/out")
    assert result.returncode == 0, result.stderr
    calls = [line.rstrip("\0").split("\0") for line in (tmp_path / "calls").read_text().splitlines()]
    parsed = [build_parser().parse_args(call) for call in calls]
    assert [(p.command, p.split, p.num_shards, p.output, p.workers) for p in parsed] == [
        ("convert-coco", "val", 10, "/data/out", 4), ("convert-coco", "train", 100, "/data/out", 4)]
    assert parsed[1].annotations == "/data/coco/annotations/instances_train2017.json"
    assert parsed[0].images == "/data/coco/val2017"


def test_prepare_dataset_needs_both_variables(tmp_path):
    result = _run(tmp_path, DATASET="/data/coco")
    assert result.returncode != 0 and "DATASET_LABEL" in result.stderr
