"""The quiet start's stderr filter: a small separate process between a command's file descriptor 2 and the terminal.

`keras_centernet.commands.startup.quiet_start` points fd 2 (Python's and C++'s writes alike) at a pipe whose other
end is this script's stdin, and runs it by file path with the standard library only (`python -I -S stderr_log.py
LOG`), so it starts in milliseconds, imports neither the package nor Keras, and outlives a command that dies. It:

- writes every byte it reads to the log file (its stdout, opened by the parent), markers replaced by readable lines;
- during start-up (between the parent's "begin" and "ready" markers) shows nothing: TensorFlow's, CUDA's and absl's
  start-up lines ("Could not find cuda drivers", "cuInit", "oneDNN custom operations") only go to the log;
- after start-up forwards everything to the real stderr except TensorFlow's C++ INFO and WARNING lines and the
  known-harmless lines of `HARMLESS` (each with its reason); ERROR and FATAL lines, Python warnings and
  tracebacks show;
- when the parent says start-up failed ("failed" marker) prints the log's path and the start-up's last lines;
- when the pipe closes (every writer gone) before the parent said "ready", prints
  `keras-centernet: the process ended during start-up (log: PATH); last lines: ...`; when it closes after "ready"
  but before "end" (killed, or a crash that printed nothing), says so with the lines it had hidden.

Markers are single `os.write` calls of `MARKER_PREFIX + word + MARKER_END` (shorter than PIPE_BUF, so never split
by other writers). `python stderr_log.py LOG [--prune_days N]`; with --prune_days it first removes the *.log files
beside LOG (the commands' per-user log folder) not written for N days whose process ended.
"""

import collections
import os
import re
import select
import signal
import sys
import time

MARKER_PREFIX = b"\x00keras-centernet-stderr:"
MARKER_END = b"\x00"
BEGIN, READY, FAILED, END = "begin", "ready", "failed", "end"  # words of the markers ("begin COMMAND")
PREFIX = "keras-centernet: "
TAIL_LINES = 20
TAIL_LINE_BYTES = 1000  # of each line kept for the tail (the log file has them whole)
HOLD_SECONDS = 0.3  # a partial line that may be a C++ log line waits this long for its newline before it shows

# A C++ log line: absl/glog ("E0000 00:00:1700000000.000000  1234 file.cc:56] ...") or TensorFlow < 2.14's
# ("2023-01-01 12:00:00.000000: E tensorflow/core/file.cc:56] ..."); group "level" is one of I, W, E, F.
LOG_LINE = re.compile(
    rb"^(?:(?P<level>[IWEF])\d{4} \d\d:\d\d:\S+\s+\d+ |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: (?P<old>[IWEF]) )\S+:\d+\]"
)
HIDDEN_LEVELS = (b"I", b"W")  # INFO and WARNING of TensorFlow's C++ log: the log file only; ERROR, FATAL show

# Lines hidden after start-up although they are not INFO/WARNING log lines (they still go to the log file).
# Each entry: (pattern searched in the line, why it is harmless). Add one only with its reason.
HARMLESS = (
    (
        re.compile(rb"oneDNN supports DT_INT64 only on platforms with AVX-512"),
        "ERROR line printed once on CPUs without AVX-512 when an int64 op reaches oneDNN: TensorFlow runs the op "
        "with its default kernel instead; results and speed are unaffected",
    ),
    (
        re.compile(rb"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
        "absl's notice that logging was not configured; the line after it is shown or hidden by its own level",
    ),
    (
        re.compile(rb"Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory for plugin"),
        "ERROR lines of TensorFlow's GPU builds at import (2.14 and later register their CUDA plugins twice, "
        "tensorflow/tensorflow#62075): the first registration is used and the GPU works. After start-up they "
        "come from a process that imports TensorFlow later (e.g. a spawned conversion worker)",
    ),
    (
        re.compile(rb"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler"),
        "second line of cpu_feature_guard's INFO line (one write, two lines): hidden with it",
    ),
)


def hidden(line):
    """True when `line` (bytes, one line) is shown only in the log file once start-up is done."""
    match = LOG_LINE.match(line)
    if match and (match.group("level") or match.group("old")) in HIDDEN_LEVELS:
        return True
    return any(pattern.search(line) for pattern, _ in HARMLESS)


def may_become_hidden(partial):
    """True when `partial` (the start of a line, no newline yet) could still turn out to be a hidden line."""
    if not partial:
        return True
    if partial[:1] in b"IWEF" and (len(partial) < 2 or partial[1:2].isdigit()):
        return True
    if partial[:1].isdigit():  # TensorFlow < 2.14's dated log lines
        return True
    notices = (b"WARNING: All log messages before absl", b"To enable the following instructions")
    return any(notice.startswith(partial[: len(notice)]) for notice in notices)


class Filter:
    """Reads the pipe (fd 0), logs everything to fd 1, forwards what users must see to fd 2."""

    def __init__(self, log_path, log_fd=1, terminal_fd=2):
        self.log_path, self.log_fd, self.terminal_fd = log_path, log_fd, terminal_fd
        self.phase = BEGIN  # BEGIN (start-up), READY (the command runs), END (it finished)
        self.command = "command"
        self.startup_tail = collections.deque(maxlen=TAIL_LINES)  # this start-up's lines
        self.hidden_tail = collections.deque(maxlen=TAIL_LINES)  # lines hidden since start-up
        self.line = b""  # the current line's start, not shown (yet), no newline
        self.forwarding = False  # the current line's start was shown: its rest shows as it arrives
        self.line_since = None  # when self.line's first bytes arrived
        self.carry = b""  # the start of a marker split across reads

    # output
    def log(self, data):
        try:
            os.write(self.log_fd, data)
        except OSError:
            pass  # a full disk must not stop the terminal output

    def show(self, data):
        while data and self.terminal_fd is not None:
            try:
                data = data[os.write(self.terminal_fd, data) :]
            except OSError:
                self.terminal_fd = None  # the terminal is gone (e.g. `| head` ended): keep logging

    def say(self, text, lines=()):
        """One message of this filter on the terminal (and in the log): `text`, then `lines` indented."""
        body = PREFIX + text + "".join("\n  " + line.decode(errors="replace").rstrip()[:400] for line in lines)
        self.finish_partial_line()
        self.show(body.encode() + b"\n")
        self.log(b"[" + body.encode() + b"]\n")

    def tail_message(self, what, lines):
        lines = [*lines, *([self.line] if self.line else [])]  # a last line without its newline counts too
        if lines:
            self.say(f"{what} (log: {self.log_path}); last lines:", lines[-TAIL_LINES:])
        else:
            self.say(f"{what} (log: {self.log_path}); it printed nothing before")

    # input
    def feed(self, chunk):
        """Handles the bytes of one read: markers out, the rest logged and split into lines."""
        data = self.carry + chunk
        self.carry = b""
        while data:
            start = data.find(MARKER_PREFIX)
            if start < 0:
                keep = partial_prefix(data, MARKER_PREFIX)
                self.text(data[: len(data) - keep])
                self.carry = data[len(data) - keep :]
                return
            end = data.find(MARKER_END, start + len(MARKER_PREFIX))
            self.text(data[:start])
            if end < 0:
                self.carry = data[start:]
                return
            self.marker(data[start + len(MARKER_PREFIX) : end].decode(errors="replace"))
            data = data[end + len(MARKER_END) :]

    def text(self, data):
        """Logs `data` and sorts its lines; the current line's unsorted start waits in self.line."""
        if not data:
            return
        self.log(data)
        pieces = data.split(b"\n")
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            if self.forwarding:  # this line's start was shown: so is the rest
                self.show(piece if last else piece + b"\n")
                self.forwarding = last  # until its newline
                continue
            self.line += piece
            if not last:
                self.complete_line(self.line)
                self.line, self.line_since = b"", None
        if self.line and self.line_since is None:
            self.line_since = time.monotonic()
        self.partial_line()

    def complete_line(self, line):
        if self.phase == BEGIN:
            self.startup_tail.append(line[:TAIL_LINE_BYTES])
        elif hidden(line):
            self.hidden_tail.append(line[:TAIL_LINE_BYTES])
        else:
            self.show(line + b"\n")

    def partial_line(self, waited_out=False):
        """Shows the current line's start (progress bars redraw with "\\r" and no newline) unless it may be a hidden
        line, which waits HOLD_SECONDS for its newline; the rest of a shown line shows as it comes."""
        if self.phase == BEGIN or not self.line:
            return
        if waited_out or not may_become_hidden(self.line):
            self.show(self.line)
            self.line, self.line_since, self.forwarding = b"", None, True

    def finish_partial_line(self):
        if self.forwarding:  # a shown line without its newline yet: end it so a message starts on its own line
            self.show(b"\n")
            self.forwarding = False

    def marker(self, word):
        word, _, argument = word.partition(" ")
        if word == BEGIN:
            self.phase, self.command = BEGIN, argument or "command"
            self.startup_tail.clear()
            self.log(f"[{PREFIX}{self.command} start-up, pid {os.getppid()}, {time.strftime('%F %T')}]\n".encode())
        elif word == READY:
            self.phase = READY
            self.hidden_tail.clear()
            self.log(f"[{PREFIX}start-up done; from here TensorFlow's ERROR lines show]\n".encode())
        elif word == FAILED:
            self.tail_message(f"{self.command} start-up failed", self.startup_tail)
            self.phase = READY
        elif word == END:
            self.phase = END
            self.log(f"[{PREFIX}{self.command} ended, {time.strftime('%F %T')}]\n".encode())

    def closed(self):
        """The pipe closed: every writer is gone."""
        if self.carry:
            self.text(self.carry)
            self.carry = b""
        if self.phase == BEGIN:
            self.tail_message("the process ended during start-up", self.startup_tail)
            self.say("rerun with --debug (or KERAS_CENTERNET_DEBUG=1) to see everything as it happens")
        elif self.phase == READY:
            if self.line:
                self.text(b"\n")
            lines = self.hidden_tail
            what = f"the process ended before {self.command} finished"
            if lines:
                self.say(f"{what} (log: {self.log_path}); last lines hidden from the terminal:", lines)
            else:
                self.say(f"{what} (log: {self.log_path})")
        elif self.line:
            self.text(b"\n")

    def run(self, input_fd=0):
        while True:
            timeout = None
            if self.phase != BEGIN and self.line and self.line_since is not None:
                timeout = max(0.0, self.line_since + HOLD_SECONDS - time.monotonic())
            if timeout is not None and os.name != "nt":  # select() takes no pipes on Windows: lines wait there
                ready, _, _ = select.select([input_fd], [], [], timeout)
                if not ready:
                    self.partial_line(waited_out=True)
                    continue
            try:
                chunk = os.read(input_fd, 65536)
            except InterruptedError:
                continue
            if not chunk:
                self.closed()
                return
            self.feed(chunk)


def partial_prefix(data, prefix):
    """How many bytes at the end of `data` are the start of `prefix` (a marker split across reads)."""
    for size in range(min(len(data), len(prefix) - 1), 0, -1):
        if data.endswith(prefix[:size]):
            return size
    return 0


def running(name):
    """True when the log file `name` (COMMAND-DATE-TIME-PID-XXXX.log) belongs to a process that still runs."""
    parts = name.split("-")
    if len(parts) < 5 or not parts[-2].isdigit():
        return False
    try:
        os.kill(int(parts[-2]), 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # it exists but is another user's, or this system cannot tell: keep the log
    return True


def prune(folder, days):
    """Removes *.log files in `folder` not written for `days` days whose process ended (older commands' logs)."""
    limit = time.time() - days * 86400
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            if name.endswith(".log") and os.path.getmtime(path) < limit and not running(name):
                os.remove(path)
        except OSError:
            pass


def main(argv):
    for name in ("SIGINT", "SIGTERM"):  # Ctrl-C or a group kill: keep draining, report when the pipe closes
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    log_path = argv[0]
    if "--prune_days" in argv:
        prune(os.path.dirname(log_path), float(argv[argv.index("--prune_days") + 1]))
    Filter(log_path).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
