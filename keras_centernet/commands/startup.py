"""What every command does before its work: a quiet start, unless --debug or KERAS_CENTERNET_DEBUG=1.

TensorFlow, CUDA and absl print start-up lines from C++ ("Could not find cuda drivers", "E0000 ... cuInit",
"oneDNN custom operations", "All log messages before absl::InitializeLog()"), some before any log level applies,
so TF_CPP_MIN_LOG_LEVEL alone cannot hide them; and a driver or plugin that aborts at start-up may print only
there. So `quiet_start` points file descriptor 2 (C++ writes included) at a pipe read by a small separate process,
`stderr_log.py` (started by file path: no package, no Keras), for the whole command:

- everything written to stderr goes to a new log file, `TMP/keras-centernet-UID/COMMAND-DATE-TIME-PID-*.log`
  (TMP: $TMPDIR or /tmp; logs there older than 7 days, of processes that ended, are removed). Not in train's
  --model_dir: a refused command writes nothing there and rerunning a finished run changes nothing in it;
- start-up (registering the package's Keras classes, importing the backend, probing its devices) shows nothing;
  when it fails, or the process dies in it (an abort in a driver or plugin, even one that prints nothing), the
  filter prints the log's path and its last lines;
- during the run TensorFlow's ERROR and FATAL lines, Python warnings and tracebacks show; its C++ INFO and WARNING
  lines and a short list of known-harmless lines (`stderr_log.HARMLESS`, each with its reason) go to the log only.
  TF_CPP_MIN_LOG_LEVEL is left as the user set it.

When the command returns (`QuietStart.close`, also the `with` block's end and an atexit hook), fd 2 is restored.
With `debug` nothing is redirected: every line shows as it is written.
"""

import atexit
import importlib.util
import os
import sys
import tempfile
import time

from keras_centernet.commands import stderr_log
from keras_centernet.commands.flags import TRUE_WORDS

DEBUG_ENV = "KERAS_CENTERNET_DEBUG"
FILTER_SCRIPT = os.path.abspath(stderr_log.__file__)
TEMP_LOG_DAYS = 7  # logs are removed after this many days without a write, once their process ended
FILTER_WAIT_SECONDS = 5.0  # at close, how long the filter may take to show what it still holds


def debug_requested(args=None):
    """True when `args.debug` is set or the environment has KERAS_CENTERNET_DEBUG=1 (true/yes/on)."""
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "").strip().lower() in TRUE_WORDS


def log_folder():
    """The per-user folder of the commands' stderr logs: TMP/keras-centernet-UID (created, private)."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return os.path.join(tempfile.gettempdir(), f"keras-centernet-{user}")


def new_log_path(command=None):
    """A new, empty log file for `command`: log_folder()/COMMAND-DATE-TIME-PID-XXXXXXXX.log (the temp folder itself
    when that one cannot be made)."""
    prefix = f"{command or 'command'}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-"
    try:
        folder = log_folder()
        os.makedirs(folder, mode=0o700, exist_ok=True)
        descriptor, path = tempfile.mkstemp(suffix=".log", prefix=prefix, dir=folder)
    except OSError:
        descriptor, path = tempfile.mkstemp(suffix=".log", prefix="keras-centernet-" + prefix)
    os.close(descriptor)
    return path


class QuietStart:
    """One command's stderr routing (see the module doc). `close()` (idempotent) marks the command as finished,
    restores fd 2 and lets the filter finish; a `with` block calls it."""

    active = None  # the open QuietStart of this process, if any

    def __init__(self, command=None):
        self.command, self.path, self.process, self._saved = command or "command", None, None, None
        self._pid = os.getpid()  # a forked child that exits through atexit must not end the parent's command
        if QuietStart.active is not None:
            QuietStart.active.close()
        self.path = new_log_path(command)
        _flush_stderr()
        self._saved = os.dup(2)  # the real stderr, restored by close()
        read_end, write_end = os.pipe()
        try:
            with open(self.path, "ab", buffering=0) as log_file:
                argv = [FILTER_SCRIPT, self.path, "--prune_days", str(TEMP_LOG_DAYS)]
                self.process = _start_filter(argv, read_end, log_file)
            os.dup2(write_end, 2)
        except BaseException:
            os.close(self._saved)
            self._saved = None
            raise
        finally:
            os.close(read_end)
            os.close(write_end)
        QuietStart.active = self
        atexit.register(self.close)
        self.mark(f"{stderr_log.BEGIN} {self.command}")

    def mark(self, word):
        """Tells the filter `word` (stderr_log's BEGIN/READY/FAILED/END), after what Python still buffers."""
        if self._saved is None:
            return
        _flush_stderr()
        try:
            os.write(2, stderr_log.MARKER_PREFIX + word.encode() + stderr_log.MARKER_END)
        except OSError:
            pass  # the filter is gone: nothing to tell

    def close(self):
        if self._saved is None or os.getpid() != self._pid:
            return
        self.mark(stderr_log.END)
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._saved = None
        atexit.unregister(self.close)
        if QuietStart.active is self:
            QuietStart.active = None
        try:  # a child process that inherited fd 2 keeps the pipe open: do not wait for it long
            self.process.wait(FILTER_WAIT_SECONDS)
        except Exception:  # noqa: BLE001 - TimeoutExpired, or interrupted: the filter finishes on its own
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()
        return False


class NotQuiet:
    """quiet_start's result with --debug: nothing redirected, nothing to close."""

    path = None

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        return False


def _flush_stderr():
    """Python's buffered stderr text goes out before what follows on fd 2."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # no sys.stderr (pythonw), or closed
        pass


def _start_filter(argv, stdin, stdout):
    """The filter process: this interpreter without site-packages or user environment (-I -S) on `argv`."""
    import subprocess

    if not sys.executable:
        raise OSError("no Python executable to run the stderr filter")
    return subprocess.Popen([sys.executable, "-I", "-S", *argv], stdin=stdin, stdout=stdout, close_fds=True)


def _load_backend():
    """Registers the package's Keras classes, imports Keras, TensorFlow (when installed: tf.data feeds every backend)
    and probes the backend's devices, which is where CUDA and vendor plugins print (or abort)."""
    import keras_centernet

    keras_centernet.register_serializables()  # imports Keras (and its backend) when the CLI started lazily
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow" or importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        tf.config.list_physical_devices()  # CUDA probing ("cuInit") prints here; device setup stays possible
    if backend == "jax":
        import jax

        jax.devices()


def quiet_start(debug=False, command=None):
    """Starts a command: its stderr goes through the filter (module doc) and the backend loads with nothing shown.

    `command` names the log file and the filter's messages. Returns a QuietStart (a context manager; `.path` is the
    log file) to close when the command returns. An error while loading prints the log's path and last lines, then
    raises (its traceback shows). With `debug` it only registers the classes and returns a NotQuiet: every line
    shows."""
    import keras_centernet

    if debug:
        keras_centernet.register_serializables()
        return NotQuiet()
    try:
        quiet = QuietStart(command)
    except OSError as error:  # no pipe, no process, no temp folder: start as --debug would, and say why
        print(f"keras-centernet: no quiet start ({error}); start-up lines show", file=sys.stderr)
        keras_centernet.register_serializables()
        return NotQuiet()
    try:
        _load_backend()
    except BaseException as error:
        if isinstance(error, Exception):  # not Ctrl-C: show what start-up printed before the traceback
            quiet.mark(stderr_log.FAILED)
        quiet.close()
        raise
    quiet.mark(stderr_log.READY)
    return quiet
