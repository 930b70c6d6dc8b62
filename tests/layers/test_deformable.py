"""`DeformableConv2D`: a plain convolution times 0.5 at initialisation, shapes, gradients that reach the offsets,
refused settings, get_config and .keras round trips. The numpy DCNv2 reference is in test_deformable_reference.py."""

import keras
import numpy as np
import pytest

from keras_centernet.layers import DeformableConv2D


def _x(shape=(2, 8, 10, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("kernel_size", [3, 1, (3, 5)])
def test_at_initialisation_it_is_half_a_plain_same_convolution(kernel_size):
    x = _x()
    dcn = DeformableConv2D(6, kernel_size, use_bias=False)
    conv = keras.layers.Conv2D(6, kernel_size, padding="same", use_bias=False)
    out = keras.ops.convert_to_numpy(dcn(x))
    conv.build(x.shape)
    conv.set_weights([keras.ops.convert_to_numpy(dcn.kernel)])
    expected = 0.5 * keras.ops.convert_to_numpy(conv(x))
    assert out.shape == (2, 8, 10, 6)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(dcn.offset_mask(x)), 0.0)  # zero-initialised


def test_bias_is_added_once():
    x = _x()
    dcn = DeformableConv2D(3, bias_initializer="ones")
    without = DeformableConv2D(3, use_bias=False)
    without.build(x.shape)
    dcn.build(x.shape)
    without.kernel.assign(dcn.kernel)
    difference = keras.ops.convert_to_numpy(dcn(x)) - keras.ops.convert_to_numpy(without(x))
    np.testing.assert_allclose(difference, 1.0, atol=1e-5)


def test_weights_and_shapes():
    dcn = DeformableConv2D(5, name="dcn")
    dcn.build((None, None, None, 4))
    assert {w.path: tuple(w.shape) for w in dcn.weights} == {
        "dcn/kernel": (3, 3, 4, 5),
        "dcn/bias": (5,),
        "dcn/offset_mask/kernel": (3, 3, 4, 27),
        "dcn/offset_mask/bias": (27,),
    }
    assert tuple(dcn(_x((1, 7, 9, 4))).shape) == (1, 7, 9, 5)
    assert dcn.compute_output_shape((None, None, None, 4)) == (None, None, None, 5)


def test_gradients_reach_the_offsets_and_masks_and_are_finite():
    x = _x((1, 6, 6, 2))
    dcn = DeformableConv2D(3, kernel_initializer=keras.initializers.RandomNormal(seed=1))
    dcn.build(x.shape)
    rng = np.random.default_rng(3)
    dcn.offset_mask.set_weights([rng.normal(scale=0.5, size=(3, 3, 2, 27)), rng.normal(size=27)])
    gradients = _gradients(dcn, x)
    assert set(gradients) == {"kernel", "bias", "offset_mask/kernel", "offset_mask/bias"}
    for name, value in gradients.items():
        assert np.all(np.isfinite(value)), name
        assert np.abs(value).max() > 1e-4, f"no gradient reaches {name}"
    # the offset channels (0..17) get gradients through the bilinear weights, the mask logits (18..26) too
    offset_bias = gradients["offset_mask/bias"]
    assert np.abs(offset_bias[:18]).max() > 1e-4 and np.abs(offset_bias[18:]).max() > 1e-4


def test_offset_gradient_matches_finite_differences():
    """Offsets from the bias alone (zero offset kernel), every fractional part in [0.2, 0.8]: within a pixel cell
    the loss is quadratic in each offset, so central differences with a 0.01 step are exact up to rounding."""
    x = _x((1, 5, 5, 2), seed=4)
    dcn = DeformableConv2D(2, use_bias=False)
    dcn.build(x.shape)
    rng = np.random.default_rng(5)
    dcn.kernel.assign(rng.normal(size=(3, 3, 2, 2)).astype("float32"))
    bias = np.concatenate([rng.integers(-2, 3, 18) + rng.uniform(0.2, 0.8, 18), rng.normal(size=9)])
    kernel = np.zeros((3, 3, 2, 27))
    dcn.offset_mask.set_weights([kernel, bias])
    analytic = _gradients(dcn, x)["offset_mask/bias"]
    for channel in (0, 5, 11, 17, 20):
        shifted = []
        for step in (1e-2, -1e-2):
            moved = bias.copy()
            moved[channel] += step
            dcn.offset_mask.set_weights([kernel, moved])
            shifted.append(float(keras.ops.convert_to_numpy(keras.ops.sum(dcn(x) ** 2))))
        dcn.offset_mask.set_weights([kernel, bias])
        np.testing.assert_allclose(analytic[channel], (shifted[0] - shifted[1]) / 2e-2, rtol=1e-2, atol=1e-3)


def _gradients(layer, x):
    """d sum(layer(x)^2) / d weight, by weight path relative to the layer, on the active backend."""
    backend = keras.backend.backend()
    names = [w.path.split("/", 1)[1] for w in layer.trainable_weights]
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) ** 2)
        grads = tape.gradient(loss, [w.value for w in layer.trainable_weights])
    elif backend == "jax":
        import jax

        def loss_fn(values):
            out, _ = layer.stateless_call(values, [w.value for w in layer.non_trainable_weights], x)
            return (out**2).sum()

        grads = jax.grad(loss_fn)([w.value for w in layer.trainable_weights])
    else:
        pytest.skip(f"no gradient helper for {backend}")
    return {name: keras.ops.convert_to_numpy(g) for name, g in zip(names, grads)}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strides": 2}, "only strides=1"),
        ({"padding": "valid"}, "only padding='same'"),
        ({"kernel_size": 0}, "kernel_size must be"),
        ({"filters": 0}, "filters must be positive"),
    ],
)
def test_unsupported_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeformableConv2D(**{"filters": 4, **kwargs})


def test_get_config_round_trips_every_argument(tmp_path):
    dcn = DeformableConv2D(
        7, (3, 5), strides=1, padding="SAME", use_bias=False, kernel_initializer="he_normal",
        bias_initializer="ones", name="d",
    )  # fmt: skip
    config = dcn.get_config()
    assert {k: config[k] for k in ("filters", "kernel_size", "strides", "padding", "use_bias")} == {
        "filters": 7, "kernel_size": [3, 5], "strides": [1, 1], "padding": "same", "use_bias": False
    }  # fmt: skip
    clone = DeformableConv2D.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.kernel_initializer, keras.initializers.HeNormal)
    deserialized = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(dcn))
    assert type(deserialized) is DeformableConv2D and deserialized.get_config() == config

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, DeformableConv2D(4, name="dcn")(inputs))
    rng = np.random.default_rng(2)
    layer = model.get_layer("dcn")
    layer.offset_mask.set_weights([rng.normal(size=(3, 3, 3, 27)), rng.normal(size=27)])
    path = str(tmp_path / "dcn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _x((1, 6, 7, 3))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-5
    )
