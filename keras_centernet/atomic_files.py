"""Crash-safe writes: write to a temporary name in the same folder, then `os.replace` it into place.

A `kill -9` at any moment leaves either the previous complete file or the new complete file, never a truncated
one; a leftover temporary (`.NAME.tmp-PID-N`) is ignored by readers and removed by `remove_stale_temporaries`.
"""

import contextlib
import glob
import itertools
import json
import os

_TEMP_MARK = ".tmp-"
_counter = itertools.count()


def temporary_name(path):
    """A sibling of `path` that no other writer uses: `DIR/.NAME.tmp-PID-N` (same file system, so rename is atomic)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}{_TEMP_MARK}{os.getpid()}-{next(_counter)}")


def fsync_dir(folder):
    """Flushes `folder`'s entries to disk (a rename into it survives a power loss); a no-op where it cannot."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path to write; on success it is flushed and renamed to `path`, on error removed.

    Keep the temporary's extension-free name in mind: writers that need a suffix (Keras wants `.keras`,
    `.weights.h5`) get it appended, e.g. `.model.keras.tmp-12-0.keras`.
    """
    suffix = next((s for s in (".weights.h5", ".keras", ".h5", ".json") if path.endswith(s)), "")
    temporary = temporary_name(path) + suffix
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
        fsync_dir(os.path.dirname(os.path.abspath(path)))
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)


def write_bytes(path, data):
    """Writes `data` (bytes) to `path` crash-safely."""
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        file.write(data)


def write_text(path, text):
    """Writes `text` (str, UTF-8) to `path` crash-safely."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, value, indent=1):
    """Writes `value` as json to `path` crash-safely."""
    write_text(path, json.dumps(value, indent=indent) + "\n")


def remove_stale_temporaries(folder, pid_alive=None):
    """Removes `.NAME.tmp-PID-N*` files in `folder` whose writer process is gone (after a kill -9)."""
    pid_alive = pid_alive or _pid_alive
    if not os.path.isdir(folder):
        return
    for temporary in glob.glob(os.path.join(glob.escape(folder), f".*{_TEMP_MARK}*")):
        pid = os.path.basename(temporary).rsplit(_TEMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(temporary)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
