"""Checks run before work starts: each failure is one `InputError` line naming the argument or file and the rule.

The CLI prints an `InputError` as `keras-centernet CMD: error: MESSAGE` and exits 2; the Python API raises it
(a `ValueError`, so callers that catch ValueError keep working). No TensorFlow here: it is imported by every command.
"""

import numbers
import os

STRIDE = 32  # the backbones' largest stride: input sides must be multiples of it


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class InputError(ValueError):
    """Bad user input, caught before work starts; the message names the argument or file and the rule."""


def check_image_size(value, argument="image_size"):
    """A positive multiple of 32 as an int (ints, integral floats and digit strings accepted), else InputError."""
    size = int(value) if _is_int(value) else None
    if isinstance(value, float) and value.is_integer() or isinstance(value, str) and value.strip().isdigit():
        size = int(value)
    if size is None or size <= 0 or size % STRIDE:
        hint = f" (nearest: {max(STRIDE, round(size / STRIDE) * STRIDE)})" if size and size > 0 else ""
        raise InputError(f"{argument} must be a positive multiple of {STRIDE}, got {value!r}{hint}")
    return size


def check_positive(value, argument):
    """An int >= 1, else InputError naming `argument`."""
    if not _is_int(value) or value < 1:
        raise InputError(f"{argument} must be an integer >= 1, got {value!r}")
    return int(value)


def check_dir_exists(path, argument):
    """An existing folder, else InputError naming `argument` and the path."""
    if not path or not os.path.isdir(path):
        raise InputError(f"{argument} {path!r}: no such folder")
    return path


def check_file_exists(path, argument):
    """An existing file, else InputError naming `argument` and the path."""
    if not path or not os.path.isfile(path):
        raise InputError(f"{argument} {path!r}: no such file")
    return path


def check_writable_dir(path, argument):
    """Creates `path` if needed and proves it writable by creating and removing a file in it."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-check-{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise InputError(f"{argument} {path!r}: not writable ({error.strerror or error})") from None
    return path
