"""Horovod callbacks: LR schedule, reducer, XLA guard, broadcast/averaging with one rank, rank-0 gating."""

import keras
import numpy as np
import pytest

from keras_centernet.callbacks.horovod import BroadcastGlobalVariablesCallback, MetricAverageCallback, horovod_callbacks
from keras_centernet.distribution import chief_only, chief_verbose
from keras_centernet.horovod import HorovodGradientReducer, horovod_jit_compile
from keras_centernet.schedules import WarmupPiecewiseSchedule, make_learning_rate_schedule, scale_lr


def _rates(schedule, steps):
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]


def test_schedule_values_at_boundaries_and_decay():
    schedule = WarmupPiecewiseSchedule(8e-3, boundaries=[90, 120], decay_factor=0.1)
    assert _rates(schedule, [0, 89, 90, 119, 120, 500]) == pytest.approx([8e-3, 8e-3, 8e-4, 8e-4, 8e-5, 8e-5])


def test_schedule_explicit_values_override_decay():
    schedule = WarmupPiecewiseSchedule(1.0, boundaries=[10], values=[0.5, 0.2], decay_factor=0.1)
    assert _rates(schedule, [9, 10]) == pytest.approx([0.5, 0.2])


def test_schedule_linear_warmup_from_start_rate():
    schedule = WarmupPiecewiseSchedule(8e-3, boundaries=[100], warmup_steps=10, warmup_start_learning_rate=1e-3)
    rates = _rates(schedule, [0, 5, 10, 11, 100])
    assert rates == pytest.approx([1e-3, 1e-3 + 7e-3 * 0.5, 8e-3, 8e-3, 8e-4])
    assert [schedule.value_at(s) for s in (0, 5, 10, 11, 100)] == pytest.approx(rates)


def test_schedule_get_config_round_trip_through_optimizer():
    schedule = WarmupPiecewiseSchedule(
        4e-3, boundaries=[5, 9], decay_factor=0.5, warmup_steps=3, warmup_start_learning_rate=1e-4
    )
    restored = WarmupPiecewiseSchedule.from_config(schedule.get_config())
    assert restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.Adam(schedule)
    serialized = keras.saving.serialize_keras_object(optimizer)
    rebuilt = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(rebuilt._learning_rate, WarmupPiecewiseSchedule)
    steps = list(range(12))
    assert _rates(rebuilt._learning_rate, steps) == pytest.approx(_rates(schedule, steps))


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="increasing"):
        WarmupPiecewiseSchedule(1.0, boundaries=[10, 5])
    with pytest.raises(ValueError, match="len\\(boundaries\\) \\+ 1"):
        WarmupPiecewiseSchedule(1.0, boundaries=[10], values=[1.0])


def test_scale_lr_and_scaled_schedule():
    # The rate is stated for a global batch (64 by default) and scales with the global batch, not the rank count
    # (the full rule: tests/test_schedules.py).
    assert scale_lr(1e-3, 64) == pytest.approx(1e-3) and scale_lr(1e-3, 8) == pytest.approx(1.25e-4)
    with pytest.raises(ValueError):
        scale_lr(1e-3, 0)
    schedule = make_learning_rate_schedule(1e-3, 256, boundaries=[50], warmup_steps=10)
    assert _rates(schedule, [0, 5, 10, 50]) == pytest.approx([0.0, 2e-3, 4e-3, 4e-4])
    single = make_learning_rate_schedule(1e-3, 64, warmup_steps=4)
    assert _rates(single, [0, 2, 4]) == pytest.approx([0.0, 5e-4, 1e-3])


def test_jit_compile_is_off_with_horovod_and_xla_request_is_explained():
    assert horovod_jit_compile("auto") is False
    assert horovod_jit_compile(False) is False
    with pytest.raises(ValueError) as error:
        horovod_jit_compile(True)
    message = str(error.value)
    assert "jit_compile=True" in message and "XLA" in message and "Horovod" in message
    assert "jit_compile=False" in message


def test_chief_gating():
    callbacks = [keras.callbacks.History()]
    assert chief_only(callbacks, True) == callbacks and chief_only(callbacks, False) == []
    assert chief_verbose(2, True) == 2 and chief_verbose(2, False) == 0


def test_reducer_rejects_unknown_compression():
    with pytest.raises(ValueError, match="compression"):
        HorovodGradientReducer("int8")
    assert HorovodGradientReducer("fp16").get_config() == {"compression": "fp16"}


@pytest.fixture(scope="module")
def hvd():
    """Horovod initialized in this process: one rank (size 1)."""
    hvd = pytest.importorskip("horovod.tensorflow")
    hvd.init()
    assert hvd.size() == 1
    return hvd


@pytest.mark.horovod
@pytest.mark.tensorflow
@pytest.mark.parametrize("compression", ["none", "fp16"])
def test_reducer_with_one_rank_returns_the_gradients(hvd, compression):
    import tensorflow as tf

    grads = [
        tf.constant([[0.5, -1.25], [3.0, 0.0]]),
        None,
        tf.constant([0.125], tf.float64),
        tf.constant([2.0, 4.0], tf.float16),
    ]
    reducer = HorovodGradientReducer(compression)
    for reduced in (reducer(grads), tf.function(reducer)(grads)):
        assert reduced[1] is None
        for original, out in zip(grads, reduced):
            if original is None:
                continue
            assert out.dtype == original.dtype and out.shape == original.shape
            np.testing.assert_array_equal(out.numpy(), original.numpy())  # exact in fp16 too


@pytest.mark.horovod
@pytest.mark.tensorflow
def test_reducer_in_centernet_train_step_matches_plain_training_with_one_rank(hvd, tiny_model, synthetic_64):
    images, boxes, labels = synthetic_64
    data = (images[:8].astype("float32"), {"boxes": boxes[:8], "labels": labels[:8]})
    weights = []
    for reducer in (None, HorovodGradientReducer("none")):
        model = tiny_model(seed=3)
        model.gradient_reducer = reducer
        model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=horovod_jit_compile("auto"))
        model.fit(*data, batch_size=4, epochs=1, verbose=0, shuffle=False)
        weights.append([v.numpy() for v in model.trainable_variables])
    for plain, reduced in zip(*weights):
        np.testing.assert_allclose(plain, reduced, rtol=1e-6, atol=1e-7)


@pytest.mark.horovod
@pytest.mark.tensorflow
def test_broadcast_builds_optimizer_and_metric_average_keeps_single_rank_logs(hvd):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    broadcast = BroadcastGlobalVariablesCallback(root_rank=0)
    seen = {}

    class Capture(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.update(logs)

    callbacks = [broadcast, MetricAverageCallback(), Capture()]
    history = model.fit(np.ones((8, 3)), np.zeros((8, 2)), batch_size=4, epochs=2, verbose=0, callbacks=callbacks)
    assert broadcast.broadcast_done and model.optimizer.built
    assert seen["loss"] == pytest.approx(history.history["loss"][-1])
    assert isinstance(seen["loss"], float)
    kinds = [type(c).__name__ for c in horovod_callbacks()]
    assert kinds == ["BroadcastGlobalVariablesCallback", "SyncNonTrainableVariablesCallback", "MetricAverageCallback"]
