"""examples/run_scripts/*.sh: launch lines (horovodrun -np/-H) and train flags the CLI accepts.

`horovodrun` and `keras-centernet` are replaced by stubs on PATH that record their arguments; the recorded
train arguments are then parsed by the real `keras-centernet` parser.
"""

import importlib.util
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "examples", "run_scripts")

STUB = """#!/usr/bin/env bash
printf '%s\\n' "$(basename "$0")" "$@" > "$RECORD_DIR/$(basename "$0").args"
"""


def run_script(name, tmp_path, **env_vars):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("horovodrun", "keras-centernet"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", RECORD_DIR=str(tmp_path))
    env.update(DATA_DIR="/data/coco2017", **env_vars)
    result = subprocess.run(
        ["bash", os.path.join(SCRIPTS, name), "--num_train_steps", "10"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    launched = sorted(p.name for p in tmp_path.glob("*.args"))
    assert len(launched) == 1, launched
    return (tmp_path / launched[0]).read_text().splitlines()


def train_arguments(argv):
    """The arguments after `keras-centernet` in a recorded command line."""
    index = argv.index("keras-centernet") if "keras-centernet" in argv else 0
    assert argv[index + 1] == "train"
    return argv[index + 1 :]


def parse_train(arguments):
    if importlib.util.find_spec("keras_centernet.commands.train") is None:
        pytest.skip("keras_centernet/commands/train.py not built yet")
    from keras_centernet.cli import build_parser

    return build_parser().parse_args(arguments)


@pytest.mark.parametrize(
    "name, ranks, hosts, amp",
    [
        ("Horovod_CenterNet_Float32_8GPUs.sh", "8", "localhost:8", False),
        ("Horovod_CenterNet_AMP_8GPUs.sh", "8", "localhost:8", True),
        ("Horovod_CenterNet_2Nodes.sh", "16", "host1:8,host2:8", False),
    ],
)
def test_horovod_scripts(name, ranks, hosts, amp, tmp_path):
    argv = run_script(name, tmp_path)
    assert argv[:5] == ["horovodrun", "-np", ranks, "-H", hosts]
    args = parse_train(train_arguments(argv))
    assert args.use_horovod and bool(args.use_amp) == amp
    assert args.data_dir == "/data/coco2017" and args.backbone == "resnet101" and args.neck == "fpn"
    assert args.image_size == 512 and args.batch_size == 8
    assert args.num_train_steps == 10  # extra arguments override the recipe


@pytest.mark.parametrize("name, amp", [("CenterNet_Float32_1Device.sh", False), ("CenterNet_AMP_1Device.sh", True)])
def test_single_device_scripts(name, amp, tmp_path):
    argv = run_script(name, tmp_path)
    assert argv[0] == "keras-centernet"
    args = parse_train(train_arguments(argv))
    assert not args.use_horovod and bool(args.use_amp) == amp and args.batch_size == 8


def test_two_node_hosts_and_interface_come_from_the_environment(tmp_path):
    argv = run_script(
        "Horovod_CenterNet_2Nodes.sh", tmp_path, HOSTS="a:4,b:4", NUM_PROCESSES="8", NETWORK_INTERFACE="eth1"
    )
    assert argv[:7] == ["horovodrun", "-np", "8", "-H", "a:4,b:4", "--network-interface", "eth1"]


def test_scripts_need_data_dir(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATA_DIR"}
    result = subprocess.run(
        ["bash", os.path.join(SCRIPTS, "CenterNet_Float32_1Device.sh")], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "DATA_DIR" in result.stderr
