"""CenterNetHead: shapes, float32 outputs under mixed precision, heatmap prior bias, config round trip."""

import math

import keras
import numpy as np
import pytest

from keras_centernet.layers.heads import HEATMAP_BIAS, CenterNetHead


@pytest.fixture
def restore_policy():
    previous = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(previous)


def test_head_shape_and_layers():
    head = CenterNetHead(5, head_channels=16, name="heatmap")
    out = head(np.ones((2, 8, 12, 32), "float32"))
    assert tuple(out.shape) == (2, 8, 12, 5)
    assert [(w.path, tuple(w.shape)) for w in head.weights] == [
        ("heatmap/conv/kernel", (3, 3, 32, 16)),
        ("heatmap/conv/bias", (16,)),
        ("heatmap/output_conv/kernel", (1, 1, 16, 5)),
        ("heatmap/output_conv/bias", (5,)),
    ]


def test_heatmap_bias_gives_prior_0_1_on_zero_features():
    assert HEATMAP_BIAS == pytest.approx(-2.19, abs=1e-2)
    assert HEATMAP_BIAS == pytest.approx(-math.log((1 - 0.1) / 0.1), abs=1e-2)  # the reference code's rounding
    head = CenterNetHead(3, bias_initializer_value=HEATMAP_BIAS)
    logits = keras.ops.convert_to_numpy(head(np.zeros((1, 4, 4, 8), "float32")))
    np.testing.assert_allclose(logits, HEATMAP_BIAS, rtol=1e-6)
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-logits)), 0.1, rtol=1e-2)
    regression = CenterNetHead(2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(regression(np.zeros((1, 4, 4, 8), "float32"))), 0.0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_head_outputs_float32_under_mixed_precision(restore_policy, policy):
    keras.config.set_dtype_policy(policy)
    head = CenterNetHead(4, head_channels=8, bias_initializer_value=HEATMAP_BIAS)
    compute = "float16" if policy == "mixed_float16" else "bfloat16"
    features = keras.ops.cast(np.zeros((2, 8, 8, 16)), compute)
    out = head(features)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert head.conv.compute_dtype == compute
    assert head.output_conv.compute_dtype == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), HEATMAP_BIAS, rtol=1e-6)
    # Also inside a functional model (symbolic dtype inference).
    inputs = keras.Input(shape=(8, 8, 16))
    assert keras.backend.standardize_dtype(head(inputs).dtype) == "float32"


def test_get_config_round_trip():
    head = CenterNetHead(7, head_channels=32, bias_initializer_value=HEATMAP_BIAS, name="heatmap")
    config = head.get_config()
    clone = CenterNetHead.from_config(config)
    assert clone.get_config() == config
    assert (clone.num_outputs, clone.head_channels, clone.bias_initializer_value) == (7, 32, HEATMAP_BIAS)
    deserialized = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head))
    assert isinstance(deserialized, CenterNetHead) and deserialized.get_config() == config


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_outputs must be >= 1"):
        CenterNetHead(0)
    with pytest.raises(ValueError, match="head_channels must be >= 1"):
        CenterNetHead(2, head_channels=0)
