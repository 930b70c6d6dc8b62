"""`kill -9` of a converter leaves no worker process behind, and the same command then finishes.

Before, each worker finished its shard and then waited for work forever (683 MB each on COCO)."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc")


def _stat(pid):
    """(state, ppid, start time) of ``pid`` from /proc/PID/stat, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), fields[19]


def _children(pid):
    """{child pid: start time} of ``pid``'s living children."""
    children = {}
    for name in os.listdir("/proc"):
        stat = _stat(name) if name.isdigit() else None
        if stat and stat[1] == pid and stat[0] not in "ZX":
            children[int(name)] = stat[2]
    return children


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(processes):
    """The pids of ``processes`` ({pid: start time}) still running (a zombie has ended; a reused pid is another)."""
    return sorted(pid for pid, start in processes.items()
                  if (stat := _stat(pid)) and stat[0] not in "ZX" and stat[2] == start)


def _wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.02)


def _assert_all_end(processes, timeout=20):
    deadline = time.monotonic() + timeout
    while _alive(processes):
        if time.monotonic() > deadline:
            left = {pid: _cmdline(pid)[:200] for pid in _alive(processes)}
            for pid in left:  # do not leave them to the rest of the test session
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"{len(left)} process(es) still running {timeout} s after their parent was killed: {left}")
        time.sleep(0.05)


def _env():
    return {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "TF_CPP_MIN_LOG_LEVEL": "2"}


def _slow_dataset(tmp_path, coco_writer):
    """300 json images of one 2048x2048 black PNG (12 KB, ~13 ms to decode): 2 shards of about 2 s each (idle
    machine), 4 MB of output."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((2048, 2048, 3), np.uint8)).save(buffer, format="PNG")
    json_path, image_dir = coco_writer(str(tmp_path / "coco"), {"black.png": (buffer.getvalue(), 2048, 2048, 1)}, [])
    with open(json_path) as file:
        annotations = json.load(file)
    annotations["images"] = [{**annotations["images"][0], "id": image_id} for image_id in range(1, 301)]
    annotations["annotations"] = [{"id": image_id, "image_id": image_id, "category_id": 1,
                                   "bbox": [10, 10, 100, 100], "iscrowd": 0, "area": 10000.0}
                                  for image_id in range(1, 301)]
    with open(json_path, "w") as file:
        json.dump(annotations, file)
    return json_path, image_dir


@pytest.mark.slow  # two runs of a command that starts three processes, each importing TensorFlow
@pytest.mark.tensorflow
def test_kill_9_of_convert_coco_ends_its_workers_and_the_same_command_then_finishes(tmp_path, coco_writer):
    json_path, image_dir = _slow_dataset(tmp_path, coco_writer)
    output = tmp_path / "out"
    records = output / "tfrecords"
    command = [sys.executable, "-m", "keras_centernet.cli", "convert-coco", "--annotations", json_path,
               "--images", image_dir, "--output", str(output), "--num_shards", "2", "--workers", "2",
               "--no_progress"]
    with open(tmp_path / "killed.log", "wb") as log:
        parent = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_env())
    try:
        def writing():
            """The parent's children once both workers are writing their shard into the staging folder."""
            staging = [os.path.join(records, name) for name in os.listdir(records) if ".tmp-" in name] if (
                records.is_dir()) else []
            shards = os.listdir(staging[0]) if staging else []
            assert parent.poll() is None, (tmp_path / "killed.log").read_text()  # finished before it was killed
            return _children(parent.pid) if len(shards) == 2 else None

        children = _wait_until(writing, 300, "both workers did not start writing")  # loaded machines: slow
        workers = [pid for pid in children if "spawn_main" in _cmdline(pid)]
        assert len(workers) == 2, {pid: _cmdline(pid) for pid in children}
        os.kill(parent.pid, signal.SIGKILL)
        assert parent.wait(timeout=20) == -signal.SIGKILL
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    # killed mid-conversion: its staging folder is there, no shard was installed
    assert [name for name in os.listdir(records) if not name.startswith(".")] == []
    _assert_all_end(children)  # the workers and multiprocessing's resource tracker

    result = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=400, check=False)
    assert result.returncode == 0, result.stderr
    assert "images written       300" in result.stdout and "boxes written        300" in result.stdout
    assert sorted(os.listdir(records)) == [f"coco_train.record-0000{i}-of-00002" for i in (0, 1)]


_POOL_SCRIPT = """
import concurrent.futures, multiprocessing, os, sys, time
from keras_centernet.data import conversion

def start(parent_pid, portable):
    if portable:
        sys.platform = "darwin"  # no prctl: the thread watching the parent's sentinel must end this worker
    conversion._end_with_parent(parent_pid)

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    pools = [concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=start,
                                                    initargs=(os.getpid(), portable)) for portable in (False, True)]
    print(*(pool.submit(os.getpid).result() for pool in pools), flush=True)
    time.sleep(300)
"""


def test_pool_workers_end_when_their_parent_is_killed_with_prctl_and_with_the_portable_fallback(tmp_path):
    script = tmp_path / "pools.py"
    script.write_text(_POOL_SCRIPT)
    env = {**_env(), "KERAS_CENTERNET_LAZY_IMPORT": "1"}  # conversion.py only: no Keras import (seconds a process)
    with open(tmp_path / "pools.log", "wb") as log:
        parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=log, text=True,
                                  env=env)
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2, (tmp_path / "pools.log").read_text()
        assert all(_stat(pid)[1] == parent.pid for pid in workers)
        workers = {pid: _stat(pid)[2] for pid in workers}
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=20)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()
    _assert_all_end(workers)


def test_a_worker_whose_parent_died_before_its_initializer_exits_at_once(monkeypatch):
    """The race PR_SET_PDEATHSIG cannot catch: the parent died before the call, the worker is already an orphan."""
    from keras_centernet.data import conversion

    def exit_(code):
        raise SystemExit(code)

    monkeypatch.setattr(sys, "platform", "other")  # no prctl on the test process itself
    monkeypatch.setattr(os, "_exit", exit_)
    with pytest.raises(SystemExit) as exited:
        conversion._end_with_parent(os.getppid() + 1)
    assert exited.value.code == 1
