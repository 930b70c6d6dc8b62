"""Live progress inside a training epoch: a bar on a terminal, a plain line every N steps in a log file or pipe.

On a terminal (the stream's ``isatty()``) one line is redrawn in place at most every ``refresh_seconds`` and
cleared at the end of the epoch, so Keras' per-epoch line (``fit(verbose=2)``) follows it::

    [=======>......................] 250/1000 - loss 2.3456 - 123.4 images/s - ETA 0:01:05

Elsewhere a line is printed when the step count reaches each multiple of ``log_every_steps``::

    epoch 1/3 step 200/1000 - loss 2.3456 - 123.4 images/s - ETA 0:01:05

images/s counts global images (every device) over the steps since the previous line (on a terminal: since the
epoch's first step), wall time included (input pipeline, other callbacks); the epoch's first step (tracing, the input
pipeline's start-up) is left out. ETA is the rest of the epoch at that rate.
"""

import sys
import time

import keras

from keras_centernet.validation import InputError

BAR_WIDTH = 30


def format_duration(seconds):
    """Seconds -> "H:MM:SS" (rounded to the second), e.g. 3725.4 -> "1:02:05"."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def progress_fields(step, total, loss=None, images_per_second=None, eta_seconds=None):
    """The part both layouts share: "step/total - loss L - R images/s - ETA H:MM:SS"; unknown parts (None) are
    left out."""
    parts = [f"{step}/{total}" if total else f"{step}"]
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    if images_per_second is not None:
        parts.append(f"{images_per_second:.1f} images/s")
    if eta_seconds is not None:
        parts.append(f"ETA {format_duration(eta_seconds)}")
    return " - ".join(parts)


def progress_bar(step, total, width=BAR_WIDTH):
    """ "[====>....]" of `width` cells for step of total ("" when total is unknown)."""
    if not total:
        return ""
    done = min(width, int(width * step / total))
    head = ">" if done < width else ""
    return "[" + "=" * done + head + "." * (width - done - len(head)) + "] "


class TrainingProgress(keras.callbacks.Callback):
    """Shows steps, loss, images/s and ETA inside each training epoch, on the chief only.

    Args:
        global_batch_size: images per step over all devices (the images/s numerator).
        log_every_steps: a line every this many steps when the stream is not a terminal (0: no lines).
        is_chief: only the chief shows anything (Horovod rank 0; `Runtime.is_chief`).
        stream: where progress goes (default: sys.stdout when training starts); it is flushed after each write.
        interactive: True: the redrawn bar; False: lines; None: `stream.isatty()`.
        refresh_seconds: the bar is redrawn at most this often (and at the epoch's last step).
        clock: seconds as a float (default `time.perf_counter`); tests pass one they advance themselves.
    """

    def __init__(
        self,
        global_batch_size,
        log_every_steps=100,
        is_chief=True,
        stream=None,
        interactive=None,
        refresh_seconds=0.1,
        clock=time.perf_counter,
    ):
        super().__init__()
        if isinstance(log_every_steps, bool) or not isinstance(log_every_steps, int) or log_every_steps < 0:
            raise InputError(f"log_every_steps must be an integer >= 0, got {log_every_steps!r}")
        if global_batch_size < 1:
            raise InputError(f"global_batch_size must be >= 1, got {global_batch_size!r}")
        self.global_batch_size = int(global_batch_size)
        self.log_every_steps = log_every_steps
        self.is_chief = is_chief
        self.stream = stream
        self.interactive = interactive
        self.refresh_seconds = refresh_seconds
        self.clock = clock

    def on_train_begin(self, logs=None):
        self._stream = self.stream or sys.stdout
        interactive = self.interactive
        if interactive is None:
            interactive = bool(getattr(self._stream, "isatty", lambda: False)())
        self._interactive = interactive
        self._drawn_width = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._mark_step = None  # the rate's reference point, set at the end of the epoch's first step
        self._drawn_time = None

    def on_train_batch_end(self, batch, logs=None):
        if not self.is_chief:
            return
        total = (self.params or {}).get("steps")
        step = min(batch + 1, total) if total else batch + 1  # Keras reports a full last execution
        every, printed = self.log_every_steps, False
        if self._interactive:
            self._draw_bar(step, total, logs)
        elif every and step // every > (self._mark_step or 0) // every:
            self._write(self.log_line(step, total, logs) + "\n")
            printed = True
        if printed or self._mark_step is None:  # the next rate counts from here
            self._mark_step, self._mark_time = step, self.clock()

    def on_epoch_end(self, epoch, logs=None):
        if self.is_chief and self._interactive and self._drawn_width:
            self._write("\r" + " " * self._drawn_width + "\r")  # Keras' epoch line takes its place
            self._drawn_width = 0

    def log_line(self, step, total, logs):
        """One log-file line for `step` of `total` (see the module docstring)."""
        epochs = (self.params or {}).get("epochs")
        epoch = f"epoch {self._epoch + 1}/{epochs} " if epochs else f"epoch {self._epoch + 1} "
        return f"{epoch}step {progress_fields(step, total, _loss(logs), *self._speed(step, total))}"

    def _draw_bar(self, step, total, logs):
        now = self.clock()
        last = total is not None and step >= total
        if self._drawn_time is not None and now - self._drawn_time < self.refresh_seconds and not last:
            return
        line = progress_bar(step, total) + progress_fields(step, total, _loss(logs), *self._speed(step, total))
        self._write("\r" + line + " " * max(0, self._drawn_width - len(line)))
        self._drawn_width, self._drawn_time = len(line), now

    def _speed(self, step, total):
        """(global images/s, seconds left in the epoch) since the reference point; None at the epoch's first step."""
        if self._mark_step is None:
            return None, None
        seconds, steps = self.clock() - self._mark_time, step - self._mark_step
        if seconds <= 0 or steps <= 0:
            return None, None
        eta = (total - step) * seconds / steps if total else None
        return self.global_batch_size * steps / seconds, eta

    def _write(self, text):
        self._stream.write(text)
        self._stream.flush()


def _loss(logs):
    """The logged loss as a float (one device -> host copy, only when a line is shown), or None."""
    value = (logs or {}).get("loss")
    return None if value is None else float(keras.ops.convert_to_numpy(value))
