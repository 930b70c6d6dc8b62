"""Profiler: trace a range of training batches for TensorBoard's Profile tab (the seed's ``use_profiler``).

`make_profiler_callback(log_dir, profile_batch=(10, 20))` returns `keras.callbacks.TensorBoard` with that
``profile_batch`` (scalars + trace) when the ``tensorboard`` package is installed, else a
`ProfilerCallback` that records the trace alone (TensorFlow's or JAX's profiler; neither needs
TensorBoard to write). Traces land in ``<log_dir>/train/plugins/profile/<run>/*.xplane.pb``; view them
with ``tensorboard --logdir <log_dir>`` (needs ``tensorboard-plugin-profile``). Give the callback to the
chief only (`distribution.chief_only`).
"""

import importlib.util
import os

import keras


def parse_profile_batch(profile_batch):
    """``"10,20"``, ``(10, 20)`` or ``15`` -> ``(start, stop)``: inclusive, 1-based training batch numbers
    counted across epochs (as `keras.callbacks.TensorBoard`); raises ValueError naming the bad value."""
    value = profile_batch
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int):
        value = (value, value)
    try:
        start, stop = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"profile_batch={profile_batch!r}: expected 'START,STOP', (start, stop) or one batch number"
        ) from None
    if start < 1 or stop < start:
        raise ValueError(f"profile_batch={profile_batch!r}: need 1 <= start <= stop")
    return start, stop


class ProfilerCallback(keras.callbacks.Callback):
    """Runs the backend's profiler (TensorFlow or JAX) from training batch ``start`` through ``stop``.

    Args:
        log_dir: TensorBoard log folder; the trace goes to ``log_dir/train``.
        profile_batch: see `parse_profile_batch`.
    """

    def __init__(self, log_dir, profile_batch=(10, 20)):
        super().__init__()
        self.log_dir = str(log_dir)
        self.start, self.stop = parse_profile_batch(profile_batch)
        self._batch = 0
        self._tracing = False

    def _begin_trace(self):
        trace_dir = os.path.join(self.log_dir, "train")
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.profiler.experimental.start(trace_dir)
        elif backend == "jax":
            import jax

            jax.profiler.start_trace(trace_dir)
        else:
            raise ValueError(f"ProfilerCallback supports the tensorflow and jax backends, not {backend}")
        self._tracing = True

    def _end_trace(self):
        if not self._tracing:
            return
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.profiler.experimental.stop()
        else:
            import jax

            jax.profiler.stop_trace()
        self._tracing = False

    def on_train_batch_begin(self, batch, logs=None):
        self._batch += 1
        if self._batch == self.start:
            self._begin_trace()

    def on_train_batch_end(self, batch, logs=None):
        if self._tracing and self._batch >= self.stop:
            self._end_trace()

    def on_train_end(self, logs=None):
        self._end_trace()  # training ended inside the range


def tensorboard_available():
    return importlib.util.find_spec("tensorboard") is not None


def make_profiler_callback(log_dir, profile_batch=(10, 20), **tensorboard_kwargs):
    """`keras.callbacks.TensorBoard(log_dir, profile_batch=...)` when TensorBoard is installed (scalars and
    trace), else `ProfilerCallback(log_dir, profile_batch)` (trace only)."""
    profile_batch = parse_profile_batch(profile_batch)
    if tensorboard_available():
        return keras.callbacks.TensorBoard(log_dir=str(log_dir), profile_batch=profile_batch, **tensorboard_kwargs)
    return ProfilerCallback(log_dir, profile_batch)
