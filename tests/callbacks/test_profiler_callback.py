"""Profiler callback: profile_batch parsing and a trace written for the requested batches."""

import glob
import os

import keras
import numpy as np
import pytest

from keras_centernet.callbacks import profiler
from keras_centernet.callbacks.profiler import ProfilerCallback, make_profiler_callback, parse_profile_batch


@pytest.mark.parametrize(
    "value, expected", [("10,20", (10, 20)), ((3, 5), (3, 5)), ([2, 2], (2, 2)), (7, (7, 7)), (" 4 , 6 ", (4, 6))]
)
def test_parse_profile_batch(value, expected):
    assert parse_profile_batch(value) == expected


@pytest.mark.parametrize("value", ["a,b", (5, 2), (0, 3), "1,2,3", None])
def test_parse_profile_batch_rejects_bad_ranges(value):
    with pytest.raises(ValueError, match="profile_batch"):
        parse_profile_batch(value)


def _fit(callback, epochs=1):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.ones((16, 3)), np.zeros((16, 1)), batch_size=2, epochs=epochs, verbose=0, callbacks=[callback])


def _traces(log_dir):
    return glob.glob(os.path.join(log_dir, "train", "plugins", "profile", "*", "*.xplane.pb"))


class RecordingProfiler(ProfilerCallback):
    """Notes the batch numbers at which the trace starts and stops."""

    def __init__(self, *args):
        super().__init__(*args)
        self.starts, self.stops = [], []

    def _begin_trace(self):
        self.starts.append(self._batch)
        super()._begin_trace()

    def _end_trace(self):
        if self._tracing:
            self.stops.append(self._batch)
        super()._end_trace()


def test_profiler_callback_traces_the_batch_range_across_epochs(tmp_path):
    callback = RecordingProfiler(tmp_path, "7,10")  # 8 batches per epoch: the range spans two epochs
    _fit(callback, epochs=2)
    assert callback.starts == [7] and callback.stops == [10] and not callback._tracing
    assert _traces(tmp_path), list(glob.glob(os.path.join(tmp_path, "**"), recursive=True))


def test_profiler_stops_when_training_ends_inside_the_range(tmp_path):
    callback = ProfilerCallback(tmp_path, profile_batch=(6, 50))
    _fit(callback)
    assert not callback._tracing and _traces(tmp_path)


def test_factory_uses_tensorboard_when_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(profiler, "tensorboard_available", lambda: False)
    fallback = make_profiler_callback(tmp_path, "2,3")
    assert isinstance(fallback, ProfilerCallback) and (fallback.start, fallback.stop) == (2, 3)
    monkeypatch.setattr(profiler, "tensorboard_available", lambda: True)
    tensorboard = make_profiler_callback(tmp_path, "2,3")
    assert isinstance(tensorboard, keras.callbacks.TensorBoard)
    assert (tensorboard._start_batch, tensorboard._stop_batch) == (2, 3)
