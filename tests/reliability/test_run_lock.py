"""One live run per model_dir: a second run is refused, a killed run's lock is taken over."""

import os
import signal
import subprocess
import sys

import pytest

from keras_centernet.run_lock import RunLock
from keras_centernet.validation import InputError

HOLDER = (
    "import sys, time\n"
    "from keras_centernet.run_lock import RunLock\n"
    "lock = RunLock(sys.argv[1]).acquire()  # held while referenced\n"
    "print('locked', flush=True)\n"
    "time.sleep(600)\n"
)


def _start_holder(model_dir):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, model_dir], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"  # blocks until the lock is held
    return holder


def test_a_second_live_run_is_refused_naming_the_owner(tmp_path):
    holder = _start_holder(str(tmp_path))
    try:
        with pytest.raises(InputError, match=rf"in use by a live run \(pid {holder.pid} on "):
            RunLock(str(tmp_path)).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    holder = _start_holder(str(tmp_path))
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with RunLock(str(tmp_path)) as lock:
        with open(lock.path) as file:
            assert f'"pid": {os.getpid()}' in file.read()
    with RunLock(str(tmp_path)):  # released on exit: a later run in the same process takes it again
        pass
