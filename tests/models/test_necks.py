"""Necks: stride-4 output shapes, FPN/deconv/dcn structure, the dcn neck's bilinear deconv init, get_config round
trips, .keras save/load."""

import keras
import numpy as np
import pytest

from keras_centernet.layers import DeformableConv2D
from keras_centernet.models.backbones import build_backbone
from keras_centernet.models.necks import NECKS, DCNNeck, DeconvNeck, FPNNeck, bilinear_upsampling_kernel, build_neck


def _features(batch=2, height=64, width=96, channels=(16, 24, 32, 32), seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(batch, height // s, width // s, c)).astype("float32") for s, c in zip((4, 8, 16, 32), channels)
    ]


@pytest.mark.parametrize("name", NECKS)
def test_necks_return_stride_4_maps(name):
    neck = build_neck(name)
    out = neck(_features(), training=False)
    assert tuple(out.shape) == (2, 16, 24, 64)
    assert neck.output_channels == 64
    assert neck.name == f"{name}_neck"
    assert neck.compute_output_shape([f.shape for f in _features()]) == (2, 16, 24, 64)
    values = keras.ops.convert_to_numpy(out)
    assert np.all(np.isfinite(values)) and values.min() >= 0.0  # ends with ReLU


@pytest.mark.parametrize(
    "name, kwargs, channels",
    [
        ("deconv", {"filters": (32, 16, 8)}, 8),
        ("dcn", {"filters": (32, 16, 8)}, 8),
        ("fpn", {"filters": 32}, 32),
        ("fpn", {"filters": (32, 16, 8)}, 8),
    ],
)
def test_neck_filters(name, kwargs, channels):
    neck = build_neck(name, **kwargs)
    assert tuple(neck(_features()).shape) == (2, 16, 24, channels)


def test_deconv_neck_layers_and_options():
    neck = DeconvNeck(filters=(32, 16, 8), conv_before_deconv=False, name="deconv_neck")
    neck(_features())
    assert [w.path for w in neck.trainable_weights] == [
        "deconv_neck/deconv1/kernel", "deconv_neck/deconv1_bn/gamma", "deconv_neck/deconv1_bn/beta",
        "deconv_neck/deconv2/kernel", "deconv_neck/deconv2_bn/gamma", "deconv_neck/deconv2_bn/beta",
        "deconv_neck/deconv3/kernel", "deconv_neck/deconv3_bn/gamma", "deconv_neck/deconv3_bn/beta",
    ]  # fmt: skip
    assert tuple(neck.deconvs[0].kernel.shape) == (4, 4, 32, 32)  # 4x4 transposed conv on C5, no bias
    with_conv = DeconvNeck(filters=(32, 16, 8))
    with_conv(_features())
    assert tuple(with_conv.convs[0][0].kernel.shape) == (3, 3, 32, 32)
    assert len(with_conv.trainable_weights) == 18


def test_deconv_neck_uses_only_c5():
    neck = DeconvNeck(filters=(32, 16, 8))
    features = _features()
    a = keras.ops.convert_to_numpy(neck(features, training=False))
    changed = [f * 0.0 for f in features[:3]] + [features[3]]
    b = keras.ops.convert_to_numpy(neck(changed, training=False))
    np.testing.assert_allclose(a, b)


def test_dcn_neck_layers():
    neck = DCNNeck(filters=(32, 16, 8), name="dcn_neck")
    features = _features()
    neck(features)
    kernels = {w.path: tuple(w.shape) for w in neck.weights if w.path.endswith("kernel")}
    assert kernels == {
        "dcn_neck/dcn1/kernel": (3, 3, 32, 32), "dcn_neck/dcn1/offset_mask/kernel": (3, 3, 32, 27),
        "dcn_neck/deconv1/kernel": (4, 4, 32, 32),
        "dcn_neck/dcn2/kernel": (3, 3, 32, 16), "dcn_neck/dcn2/offset_mask/kernel": (3, 3, 32, 27),
        "dcn_neck/deconv2/kernel": (4, 4, 16, 16),
        "dcn_neck/dcn3/kernel": (3, 3, 16, 8), "dcn_neck/dcn3/offset_mask/kernel": (3, 3, 16, 27),
        "dcn_neck/deconv3/kernel": (4, 4, 8, 8),
    }  # fmt: skip
    assert all(isinstance(level[0], DeformableConv2D) and not level[0].use_bias for level in neck.levels)
    assert len(neck.trainable_weights) == 3 * (1 + 2 + 2 + 1 + 2)  # dcn kernel, offset conv, BN, deconv, BN
    changed = [f * 0.0 for f in features[:3]] + [features[3]]  # only C5 is used
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(neck(changed, training=False)),
        keras.ops.convert_to_numpy(neck(features, training=False)),
    )


def test_bilinear_kernel_taps():
    kernel = bilinear_upsampling_kernel(4, 3)
    np.testing.assert_allclose(kernel[:, 0, 0, 0], [0.0625, 0.1875, 0.1875, 0.0625])  # 0.25 * (.25 .75 .75 .25)
    np.testing.assert_allclose(kernel[:, :, 1, 1], np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]))
    assert np.all(kernel[:, :, 0, 1] == 0) and np.all(kernel[:, :, 2, 0] == 0)  # each channel from itself only


def test_dcn_neck_deconvs_start_as_bilinear_upsampling():
    """A ramp image per channel, through the first deconv as built: inside the border, output pixel o reads the
    input at (o + 0.5) / 2 - 0.5 (half-pixel bilinear); a constant stays constant inside, 0.75 at an edge."""
    neck = DCNNeck(filters=(3, 3, 3))
    neck([np.zeros((1, 6, 8, 5), "float32")])
    deconv = neck.levels[0][2]
    rows, cols = np.meshgrid(np.arange(6.0), np.arange(8.0), indexing="ij")
    ramp = np.stack([rows, cols, 2.0 * rows - cols + 3.0], axis=-1)[None].astype("float32")
    out = keras.ops.convert_to_numpy(deconv(ramp))[0]
    assert out.shape == (12, 16, 3)
    source_r, source_c = np.meshgrid((np.arange(12) + 0.5) / 2 - 0.5, (np.arange(16) + 0.5) / 2 - 0.5, indexing="ij")
    expected = np.stack([source_r, source_c, 2.0 * source_r - source_c + 3.0], axis=-1)
    np.testing.assert_allclose(out[1:-1, 1:-1], expected[1:-1, 1:-1], atol=1e-5)
    constant = keras.ops.convert_to_numpy(deconv(np.full((1, 6, 8, 3), 2.0, "float32")))[0]
    np.testing.assert_allclose(constant[1:-1, 1:-1], 2.0, atol=1e-6)
    np.testing.assert_allclose(constant[0, 1:-1], 1.5, atol=1e-6)
    np.testing.assert_allclose(constant[0, 0], 2.0 * 0.75 * 0.75, atol=1e-6)
    smooth = keras.layers.UpSampling2D(2, interpolation="bilinear")(ramp)  # Keras's half-pixel bilinear agrees
    np.testing.assert_allclose(out[1:-1, 1:-1], keras.ops.convert_to_numpy(smooth)[0, 1:-1, 1:-1], atol=1e-5)


def test_fpn_neck_matches_od_api_channels_and_uses_every_level():
    neck = FPNNeck(name="fpn_neck")
    features = _features()
    base = keras.ops.convert_to_numpy(neck(features, training=False))
    kernels = {w.path: tuple(w.shape) for w in neck.weights if w.path.endswith("kernel")}
    assert kernels == {
        "fpn_neck/lateral5/kernel": (1, 1, 32, 256),
        "fpn_neck/lateral4/kernel": (1, 1, 32, 256),
        "fpn_neck/smooth4/kernel": (3, 3, 256, 128),
        "fpn_neck/lateral3/kernel": (1, 1, 24, 128),
        "fpn_neck/smooth3/kernel": (3, 3, 128, 64),
        "fpn_neck/lateral2/kernel": (1, 1, 16, 64),
        "fpn_neck/smooth2/kernel": (3, 3, 64, 64),
    }
    for level in range(4):
        changed = list(features)
        changed[level] = changed[level] + 1.0
        out = keras.ops.convert_to_numpy(neck(changed, training=False))
        assert np.abs(out - base).max() > 1e-4, f"C{level + 2} does not reach the output"


def test_fpn_needs_four_levels():
    with pytest.raises(ValueError, match="expects 4 feature maps"):
        FPNNeck()(_features()[1:])


def test_unknown_neck_names_the_known_ones():
    with pytest.raises(ValueError, match="Unknown neck 'bifpn'; known necks: deconv, fpn, dcn"):
        build_neck("bifpn")


@pytest.mark.parametrize(
    "neck",
    [
        DeconvNeck(filters=(32, 16, 8), kernel_size=4, conv_before_deconv=False, name="d"),
        FPNNeck(filters=(32, 16, 8), name="f"),
        DCNNeck(filters=(16, 8, 4), name="c"),
    ],
)
def test_get_config_round_trip(neck):
    config = neck.get_config()
    clone = type(neck).from_config(config)
    assert clone.get_config() == config
    features = _features()
    neck(features)
    clone(features)
    clone.set_weights(neck.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(features, training=False)),
        keras.ops.convert_to_numpy(neck(features, training=False)),
        atol=1e-6,
    )
    deserialized = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(neck))
    assert type(deserialized) is type(neck) and deserialized.get_config() == config


@pytest.mark.parametrize("name", NECKS)
def test_keras_save_load_round_trip(tmp_path, name):
    images = keras.Input(shape=(None, None, 3))
    backbone = build_backbone("tiny")
    outputs = build_neck(name, filters=(32, 16, 8))(backbone(images))
    model = keras.Model(images, outputs)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=1e-5,
    )
