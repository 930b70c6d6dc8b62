"""One live run per model_dir: an exclusive `flock` on `model_dir/.run.lock`, released by the kernel when the
owner exits in any way (kill -9 included), so a dead run's lock is taken over without a stale-lock heuristic.

The file holds the owner's pid, host and start time, only to name the owner when a second run is refused.
"""

import fcntl
import json
import os
import socket
import time

from keras_centernet.validation import InputError

LOCK_FILE = ".run.lock"


class RunLock:
    """`with RunLock(model_dir): ...` holds the lock; a second live run gets InputError naming the owner."""

    def __init__(self, model_dir):
        self.path = os.path.join(model_dir, LOCK_FILE)
        self._file = None

    def acquire(self):
        file = open(self.path, "a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            owner = file.read().strip() or "{}"
            file.close()
            raise InputError(
                f"--model_dir {os.path.dirname(self.path)!r} is in use by a live run ({_describe(owner)}); wait for "
                "it to end or choose another --model_dir"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
        file.flush()
        self._file = file
        return self

    def release(self):
        if self._file is not None:
            self._file.truncate(0)  # an empty file = free (a finished run leaves the folder as it found it)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _describe(owner):
    try:
        info = json.loads(owner)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"]))
        return f"pid {info['pid']} on {info['host']} since {started}"
    except (ValueError, KeyError, TypeError):
        return "owner unknown"
