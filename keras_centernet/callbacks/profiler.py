"""Profiler: a TensorBoard callback that traces a range of training steps (the seed's ``use_profiler``).

Open the trace with ``tensorboard --logdir <log_dir>`` (Profile tab; needs ``tensorboard-plugin-profile``).
Profiling works on the TensorFlow backend (and JAX on Python >= 3.12, a Keras limitation).
"""

import keras


def parse_profile_batch(profile_batch):
    """``"10,20"``, ``(10, 20)`` or ``15`` -> ``(start, stop)`` (inclusive, 1-based batch numbers as in
    `keras.callbacks.TensorBoard`); raises ValueError naming the bad value."""
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


def make_profiler_callback(log_dir, profile_batch=(10, 20), **tensorboard_kwargs):
    """`keras.callbacks.TensorBoard` writing scalars and a profiler trace of batches ``profile_batch``
    into ``log_dir``. Give it to the chief only (`callbacks.horovod.chief_only`)."""
    return keras.callbacks.TensorBoard(
        log_dir=str(log_dir), profile_batch=parse_profile_batch(profile_batch), **tensorboard_kwargs
    )
