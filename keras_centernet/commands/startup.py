"""What every command does before its work: a quiet start, unless --debug or KERAS_CENTERNET_DEBUG=1.

TensorFlow, CUDA and absl print start-up lines from C++ ("Could not find cuda drivers", "E0000 ... cuInit",
"oneDNN custom operations", "All log messages before absl::InitializeLog()"), some before any log level applies,
so TF_CPP_MIN_LOG_LEVEL alone cannot hide them. `quiet_start` imports the backend and probes its devices with
file descriptor 2 pointed at /dev/null, then restores it: later errors and warnings print as usual.
"""

import contextlib
import importlib.util
import os
import sys

from keras_centernet.commands.flags import TRUE_WORDS

DEBUG_ENV = "KERAS_CENTERNET_DEBUG"


def debug_requested(args=None):
    """True when `args.debug` is set or the environment has KERAS_CENTERNET_DEBUG=1 (true/yes/on)."""
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "").strip().lower() in TRUE_WORDS


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 (C++ writes included) goes to /dev/null inside the block; restored after, even on error."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def quiet_start(debug=False):
    """Registers the package's Keras classes (`keras_centernet.register_serializables`), imports Keras, TensorFlow
    (when installed: tf.data feeds every backend) and probes the backend's devices, with stderr silenced. Sets
    TF_CPP_MIN_LOG_LEVEL=3 unless set: TensorFlow's C++ log during the run (e.g. "E0000 ... oneDNN supports
    DT_INT64 only on platforms with AVX-512") is not for users; failures still raise. With `debug` it only
    registers, so every line shows. An import error still raises, its traceback printed after stderr is restored."""
    import keras_centernet

    if debug:
        keras_centernet.register_serializables()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_silenced():
        keras_centernet.register_serializables()  # imports Keras (and its backend) when the CLI started lazily
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow" or importlib.util.find_spec("tensorflow") is not None:
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA probing ("cuInit") prints here; device setup stays possible
        if backend == "jax":
            import jax

            jax.devices()
