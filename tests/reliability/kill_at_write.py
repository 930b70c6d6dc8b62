"""`python kill_at_write.py N ARGS...`: runs `keras-centernet ARGS...` and SIGKILLs itself at its N-th crash-safe
write (after the temporary file is complete, before the rename), the worst moment for a writer without renames."""

import os
import signal
import sys

real_replace = os.replace
writes = 0


def replace_then_maybe_die(source, destination):
    global writes
    writes += 1
    if writes == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(source, destination)


if __name__ == "__main__":
    os.replace = replace_then_maybe_die
    from keras_centernet.cli import main

    sys.exit(main(sys.argv[2:]))
