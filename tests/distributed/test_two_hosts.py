"""A real two-host Horovod run: examples/run_scripts/Horovod_CenterNet_2Nodes.sh across two network namespaces.

scripts/two_host_netns.sh makes two "hosts" (namespaces joined by a veth pair, 10.77.0.1 and 10.77.0.2, each with
its own sshd and a throwaway key); horovodrun runs in host A and starts rank 1 on host B over ssh; Gloo carries the
all-reduce over TCP between the two addresses (the namespaces have no other interface, so nothing else is
reachable). The namespaces share the file system, as a cluster shares one. The tiny run (`--backbone tiny
--image_size 64`, 2 epochs x 3 steps) must end with bit-identical weights on both ranks, the right step count,
only the chief writing outside its own backup folder (rank 1's file system calls are traced with strace), and
nothing left behind (namespaces, veth, sshd). 35-70 s on 2 CPU cores.

Needs root, `ip` and sshd (`make test` installs openssh-server via scripts/install_system_packages.sh); skips
with the reason otherwise.
"""

import os
import re
import subprocess
import time

import pytest

from tests.distributed.rank_state import (
    TWO_HOST_SCRIPT,
    TWO_NODE_RUN_SCRIPT,
    check_ranks_identical,
    horovodrun_path,
    rank_env,
    read_state,
    tiny_train_flags,
)

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.tensorflow]

EPOCHS, STEPS_PER_EPOCH = 2, 3
ADDR_A, ADDR_B = "10.77.0.1", "10.77.0.2"

# Rank 1 runs under strace (file system calls only) and both ranks record where they ran; then `keras-centernet`.
RANK_SHIM = """#!/usr/bin/env bash
{{ echo "rank=$HOROVOD_RANK hostname=$HOROVOD_HOSTNAME netns=$(readlink /proc/self/ns/net)"
  ip -o -4 addr show | awk '{{print "addr=" $2 "," $4}}'; }} > "{record}/rank_$HOROVOD_RANK.where"
if [ "$HOROVOD_RANK" = 1 ] && command -v strace >/dev/null; then
  exec strace -f -qq -e trace=openat,open,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat \\
    -o "{record}/rank_1.strace" "{real}" "$@"
fi
exec "{real}" "$@"
"""


# Names of this test's namespaces and state folder (the addresses live inside them, so parallel runs don't clash).
TWO_HOST_ENV = {"TWO_HOST_PREFIX": f"kt{os.getpid() % 100000}", "TWO_HOST_DIR": f"/tmp/kcn-2h-{os.getpid()}"}


def netns(*args):
    env = dict(os.environ, **TWO_HOST_ENV)
    return subprocess.run(["bash", TWO_HOST_SCRIPT, *args], capture_output=True, text=True, env=env, timeout=120)


def leftovers():
    """Namespaces, veth ends, sshd processes or state this test's prefix left behind."""
    prefix, state_dir = TWO_HOST_ENV["TWO_HOST_PREFIX"], TWO_HOST_ENV["TWO_HOST_DIR"]
    found = [line for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
             if line.startswith(prefix + "-")]  # fmt: skip
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += re.findall(rf"{prefix}-veth-\w", links)
    sshd = subprocess.run(["pgrep", "-f", f"sshd.*{state_dir}"], capture_output=True, text=True).stdout.split()
    found += [f"sshd pid {pid}" for pid in sshd]
    found += [path for path in (state_dir, f"/etc/netns/{prefix}-a", f"/etc/netns/{prefix}-b") if os.path.exists(path)]
    return found


@pytest.fixture
def two_hosts():
    """Two namespaces with sshd each; torn down afterwards, also when the test fails."""
    check = netns("check")
    if check.returncode != 0:
        pytest.skip(f"two-host namespaces unavailable: {check.stdout.strip() or check.stderr.strip()}")
    up = netns("up")
    try:
        assert up.returncode == 0, up.stderr
        yield
    finally:
        down = netns("down")
        assert down.returncode == 0, down.stderr
        assert leftovers() == [], leftovers()


def rank_writes(strace_log, model_dir):
    """Paths under model_dir that rank 1 created, opened for writing, renamed, removed or made."""
    writes = set()
    pattern = re.compile(r"^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
    for line in open(strace_log):
        match = pattern.match(line)
        if not match or int(match.group(3)) < 0:
            continue
        call, arguments = match.group(1), match.group(2)
        paths = re.findall(r'"([^"]*)"', arguments)
        if call in ("openat", "open") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", arguments):
            continue
        writes.update(os.path.normpath(p) for p in paths if os.path.normpath(p).startswith(model_dir))
    return writes


def test_two_host_run_script_trains_identical_ranks(two_hosts, tiny_records, tmp_path):
    horovodrun = horovodrun_path()
    model_dir = str(tmp_path / "model")
    record = tmp_path / "record"
    record.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = os.path.join(os.path.dirname(horovodrun), "keras-centernet")
    (bin_dir / "keras-centernet").write_text(RANK_SHIM.format(record=record, real=real))
    (bin_dir / "keras-centernet").chmod(0o755)
    env = rank_env(DATA_DIR=str(tiny_records), MODEL_DIR=model_dir, SLOTS_PER_HOST="1", **TWO_HOST_ENV)
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])
    env.pop("HOSTS", None)
    env.pop("NUM_PROCESSES", None)

    start = time.monotonic()
    result = subprocess.run(
        ["bash", TWO_HOST_SCRIPT, "run", "bash", TWO_NODE_RUN_SCRIPT, *tiny_train_flags(EPOCHS, STEPS_PER_EPOCH)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    duration = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    print(f"two-host run: {duration:.1f} s")
    assert "train: horovod on 2 device(s)" in output

    # The ranks ran in different namespaces, host A and host B, each seeing only its own veth address.
    where = {rank: (record / f"rank_{rank}.where").read_text() for rank in (0, 1)}
    assert f"hostname={ADDR_A}" in where[0] and f"hostname={ADDR_B}" in where[1]
    assert f"{ADDR_A}/24" in where[0] and f"{ADDR_B}/24" in where[1]
    assert re.search(r"netns=(\S+)", where[0]).group(1) != re.search(r"netns=(\S+)", where[1]).group(1)
    for rank in (0, 1):
        addresses = re.findall(r"addr=(\S+)", where[rank])
        assert sorted(a.split(",")[1] for a in addresses) == sorted(["127.0.0.1/8", f"{(ADDR_A, ADDR_B)[rank]}/24"])

    # Identical final weights (model and optimizer) on both ranks after epochs x steps optimizer steps.
    num_arrays, iterations, checksum = check_ranks_identical(model_dir, 2, EPOCHS, STEPS_PER_EPOCH)
    print(f"two-host run: {num_arrays} arrays identical on both ranks, {iterations} steps, sha256 {checksum}")

    # Only the chief writes the model, checkpoints, history and summary; rank 1 writes its own backup only.
    assert os.path.isfile(os.path.join(model_dir, "model.keras"))
    assert sorted(os.listdir(os.path.join(model_dir, "checkpoints"))) == [
        f"epoch_{e:03d}.keras" for e in range(1, EPOCHS + 1)
    ]
    assert read_state(model_dir, 1)["epoch"] == EPOCHS
    strace_log = record / "rank_1.strace"
    if strace_log.exists():
        own = os.path.join(model_dir, "backup", "rank_1")
        writes = rank_writes(str(strace_log), model_dir)
        assert any(path.startswith(own) for path in writes), sorted(writes)
        outside = sorted(
            path for path in writes
            if not path.startswith(own) and path not in (model_dir, os.path.dirname(own))
            and not os.path.basename(path).startswith(".write-check-")  # validation's writability probe
        )  # fmt: skip
        assert outside == [], f"rank 1 wrote outside its backup folder: {outside}"
