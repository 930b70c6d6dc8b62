"""The quiet start hides nothing fatal (issue 18): its stderr filter (keras_centernet/commands/stderr_log.py) logs
everything to a file, shows the log's path and last lines when start-up fails or the process dies in it (an abort in
C++, even one that prints nothing), and after start-up shows TensorFlow's ERROR lines but not its INFO/WARNING lines
or the known-harmless ones.

The commands run as subprocesses whose start-up (`startup._load_backend`, or the `register_serializables` it calls
first) is replaced by what a driver or plugin would do, so no test needs Keras or a GPU; the real start-up and a
real train run are in test_quiet_start.py.
"""

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from keras_centernet.commands import stderr_log

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FATAL = "F0000 00:00:1700000000.000000 1 cuda_driver.cc:1] Check failed: cuInit"
INFO = "I0000 00:00:1700000000.000000 1 cudart_stub.cc:31] Could not find cuda drivers on your machine"
ERROR = "E0000 00:00:1700000000.000000  42 bfc_allocator.cc:485] Allocator ran out of memory trying to allocate 4GiB"
WARNING = "W0000 00:00:1700000000.000000  42 allocator.cc:1] Allocation of 400 exceeds 10% of free system memory."
OLD_ERROR = "2023-01-01 12:00:00.000000: E tensorflow/core/common_runtime/collective.cc:7] collective failed"
OLD_INFO = "2023-01-01 12:00:00.000000: I tensorflow/core/platform/cpu_feature_guard.cc:193] optimized"
HARMLESS = "E0000 00:00:1700000000.000000  42 mkl_util.h:1] oneDNN supports DT_INT64 only on platforms with AVX-512"
ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
LOG_PATH = re.compile(r"\(log: (?P<path>[^)]+)\)")

PROLOGUE = """
import os, sys
os.environ["KERAS_CENTERNET_LAZY_IMPORT"] = "1"  # as the console script: no Keras before the quiet start
import keras_centernet
from keras_centernet.commands import startup
"""


def _run(body, tmp_path, env=None, timeout=120):
    """CompletedProcess of `python -c PROLOGUE + body` with no TF log level and no debug switch set; its logs go
    under `tmp_path` (TMPDIR)."""
    hidden = ("TF_CPP_MIN_LOG_LEVEL", "KERAS_CENTERNET_DEBUG")
    base = {key: value for key, value in os.environ.items() if key not in hidden}
    base["PYTHONPATH"] = ROOT + os.pathsep + base.get("PYTHONPATH", "")
    base["TMPDIR"] = str(tmp_path)
    code = PROLOGUE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code], env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def _log_of(stderr):
    match = LOG_PATH.search(stderr)
    assert match, stderr
    path = match.group("path")
    assert os.path.isfile(path), path
    with open(path, errors="replace") as file:
        return path, file.read()


def _startup_that(action):
    """Body of a command whose start-up first prints INFO, then does `action` (Python statements)."""
    return f"""
    def load():
        os.write(2, {(INFO + chr(10)).encode()!r})
        {action}
    keras_centernet.register_serializables = load
    with startup.quiet_start(False, "train"):
        print("the command ran")
    """


def test_an_abort_in_cpp_during_start_up_prints_the_log_path_and_its_tail(tmp_path):
    result = _run(_startup_that(f"os.write(2, {(FATAL + chr(10)).encode()!r}); os.abort()"), tmp_path)
    assert result.returncode == -signal.SIGABRT, (result.returncode, result.stderr)
    assert "the command ran" not in result.stdout
    assert "keras-centernet: the process ended during start-up (log: " in result.stderr, result.stderr
    assert "last lines:\n  " + INFO + "\n  " + FATAL in result.stderr, result.stderr
    assert "--debug" in result.stderr
    path, log = _log_of(result.stderr)
    assert INFO in log and FATAL in log
    assert os.path.dirname(path) == str(tmp_path / f"keras-centernet-{os.getuid()}")
    assert os.path.basename(path).startswith("train-")


def test_an_abort_that_prints_nothing_during_start_up_says_so_with_the_log_path(tmp_path):
    body = """
    def load():
        os.abort()
    keras_centernet.register_serializables = load
    startup.quiet_start(False, "detect")
    """
    result = _run(body, tmp_path)
    assert result.returncode == -signal.SIGABRT, (result.returncode, result.stderr)
    assert "keras-centernet: the process ended during start-up (log: " in result.stderr, result.stderr
    assert "it printed nothing before" in result.stderr
    path, log = _log_of(result.stderr)
    assert "detect start-up" in log and os.path.basename(path).startswith("detect-")


def test_a_start_up_error_prints_the_tail_then_its_traceback(tmp_path):
    result = _run(_startup_that("raise RuntimeError('the plugin did not load')"), tmp_path)
    assert result.returncode == 1
    header = "keras-centernet: train start-up failed (log: "
    assert header in result.stderr and INFO in result.stderr, result.stderr
    assert result.stderr.index(header) < result.stderr.index("RuntimeError: the plugin did not load")
    assert "the process ended" not in result.stderr  # the parent finished its start-up report: no second message
    assert INFO in _log_of(result.stderr)[1]


def test_error_lines_show_during_the_run_info_warning_and_harmless_lines_go_to_the_log_only(tmp_path):
    lines = (ABSL, ERROR, WARNING, INFO, HARMLESS, OLD_ERROR, OLD_INFO)
    body = f"""
    startup._load_backend = lambda: os.write(2, b"start-up line\\n")
    with startup.quiet_start(False, "train") as quiet:
        for line in {lines!r}:
            os.write(2, line.encode() + b"\\n")
        print("a Python warning", file=sys.stderr)
        print("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
    print(quiet.path)
    print("after the command", file=sys.stderr)
    """
    result = _run(body, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "TF_CPP_MIN_LOG_LEVEL None" in result.stdout  # the run keeps TensorFlow's ERROR lines
    shown = result.stderr.splitlines()
    assert shown == [ERROR, OLD_ERROR, "a Python warning", "after the command"], result.stderr
    with open(result.stdout.split()[-1]) as file:
        log = file.read()
    for line in ("start-up line", ABSL, ERROR, WARNING, INFO, HARMLESS, OLD_ERROR, OLD_INFO, "a Python warning"):
        assert line in log, line
    assert "train ended" in log and "after the command" not in log  # fd 2 is restored when the command returns


def test_a_kill_during_the_run_says_so_with_the_lines_it_hid(tmp_path):
    body = f"""
    startup._load_backend = lambda: None
    with startup.quiet_start(False, "train"):
        os.write(2, {(WARNING + chr(10)).encode()!r})
        os.write(2, {(ERROR + chr(10)).encode()!r})
        os.kill(os.getpid(), 9)
    """
    result = _run(body, tmp_path)
    assert result.returncode == -signal.SIGKILL
    assert result.stderr.splitlines()[0] == ERROR, result.stderr
    assert "keras-centernet: the process ended before train finished (log: " in result.stderr, result.stderr
    assert "last lines hidden from the terminal:\n  " + WARNING in result.stderr, result.stderr
    assert WARNING in _log_of(result.stderr)[1]


def test_each_command_gets_its_own_log_named_after_it_and_its_process(tmp_path):
    body = """
    startup._load_backend = lambda: None
    for command in ("evaluate", "convert_coco"):
        with startup.quiet_start(False, command) as quiet:
            print(quiet.path)
    print(os.getpid())
    """
    result = _run(body, tmp_path)
    assert result.returncode == 0, result.stderr
    *paths, pid = result.stdout.split()
    assert [os.path.basename(path).split("-")[0] for path in paths] == ["evaluate", "convert_coco"]
    assert all(os.path.basename(path).split("-")[3] == pid and os.path.isfile(path) for path in paths)
    assert len(set(paths)) == 2


def test_debug_redirects_nothing(tmp_path):
    body = """
    startup._load_backend = lambda: None
    keras_centernet.register_serializables = lambda: os.write(2, b"I0000 start-up line\\n")
    with startup.quiet_start(startup.debug_requested(), "train") as quiet:
        print(quiet.path)
    """
    result = _run(body, tmp_path, env={"KERAS_CENTERNET_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None"] and result.stderr == "I0000 start-up line\n"
    assert not os.listdir(tmp_path)  # no log file


def _filter(tmp_path):
    """A Filter in this process writing to two pipes; returns (filter, read(log), read(terminal))."""
    log_read, log_write = os.pipe()
    terminal_read, terminal_write = os.pipe()
    for descriptor in (log_read, terminal_read):
        os.set_blocking(descriptor, False)

    def reader(descriptor):
        def read():
            try:
                return os.read(descriptor, 1 << 20).decode()
            except BlockingIOError:
                return ""

        return read

    return stderr_log.Filter("LOG", log_write, terminal_write), reader(log_read), reader(terminal_read)


def _marker(word):
    return stderr_log.MARKER_PREFIX + word.encode() + stderr_log.MARKER_END


def test_markers_split_across_reads_and_progress_bars_without_newlines(tmp_path):
    flt, log, terminal = _filter(tmp_path)
    stream = _marker("begin evaluate") + INFO.encode() + b"\n" + _marker("ready") + b"\r evaluate: 50%"
    for start in range(0, len(stream), 7):  # every marker arrives in pieces
        flt.feed(stream[start : start + 7])
    assert flt.phase == stderr_log.READY
    assert terminal() == "\r evaluate: 50%"  # a partial line that cannot be a log line shows at once
    flt.feed(b"\r evaluate: 100%\n" + b"W0000 00:00:1.0 1 x.cc:1]")  # a partial log line waits for its newline
    assert terminal() == "\r evaluate: 100%\n"
    flt.feed(b" hidden\n" + _marker("end"))
    assert terminal() == "" and flt.phase == stderr_log.END
    flt.closed()
    assert terminal() == ""  # a clean end: no message
    written = log()
    assert "evaluate start-up" in written and INFO in written and "x.cc:1] hidden" in written
    assert "keras-centernet-stderr" not in written  # markers become readable lines


@pytest.mark.parametrize("index", range(len(stderr_log.HARMLESS)))
def test_every_harmless_entry_has_a_reason(index):
    pattern, reason = stderr_log.HARMLESS[index]
    assert isinstance(pattern, re.Pattern) and len(reason) > 40


def test_what_is_hidden_after_start_up():
    assert stderr_log.hidden(INFO.encode()) and stderr_log.hidden(WARNING.encode())
    assert stderr_log.hidden(OLD_INFO.encode()) and stderr_log.hidden(HARMLESS.encode())
    assert not stderr_log.hidden(ERROR.encode()) and not stderr_log.hidden(FATAL.encode())
    assert not stderr_log.hidden(OLD_ERROR.encode())
    assert not stderr_log.hidden(b"Traceback (most recent call last):")
    assert not stderr_log.hidden(b"Instructions for updating: use tf.data")


def test_logs_older_than_a_week_are_pruned_unless_their_process_runs(tmp_path):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    names = {
        "old": f"train-20200101-000000-{ended.stdout.strip()}-abc.log",
        "running": f"train-20200101-000000-{os.getpid()}-abc.log",
        "new": f"detect-20200101-000000-{ended.stdout.strip()}-def.log",
        "other": "notes.txt",
    }
    for key, name in names.items():
        (tmp_path / name).write_text("x")
        if key != "new":
            os.utime(tmp_path / name, (0, 0))
    stderr_log.prune(str(tmp_path), 7)
    kept = sorted(names[key] for key in ("running", "new", "other"))
    assert sorted(path.name for path in tmp_path.iterdir()) == kept
