"""Backbones: strides and channels of [C2..C5], normalization inside, names, weights files, adapter."""

import keras
import numpy as np
import pytest

from keras_centernet.models.backbones import (
    BACKBONES,
    CAFFE_MEAN_BGR,
    IMAGENET_MEAN_RGB,
    IMAGENET_STD_RGB,
    ImageNormalization,
    backbone_channels,
    backbone_from_model,
    build_backbone,
)


def _feature_shapes(model, height, width, batch=2):
    features = model(np.full((batch, height, width, 3), 128.0, "float32"), training=False)
    return [tuple(f.shape) for f in features], features


@pytest.mark.parametrize("name", ["tiny", "resnet18", "resnet34"])
def test_own_backbones_strides_and_channels(name):
    model = build_backbone(name)
    shapes, features = _feature_shapes(model, 64, 96)
    channels = backbone_channels(name)
    assert shapes == [(2, 64 // s, 96 // s, c) for s, c in zip((4, 8, 16, 32), channels)]
    for f in features:
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(f)))
    assert model.inputs[0].shape[1:] == (None, None, 3)


def test_resnet18_matches_torchvision_size_and_names():
    model = build_backbone("resnet18")
    # torchvision resnet18 without the fc layer: 11,689,512 - 513,000 parameters.
    assert model.count_params() == 11_176_512 + 9_600  # + BN moving statistics (non-trainable)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["images", "resnet18_normalization", "resnet18_conv1_pad"]
    assert "resnet18_conv3_block1_downsample_conv" in names
    assert "resnet18_conv5_block2_out" in names
    assert len(names) == len(set(names))
    # Deterministic: a second build gives the same layer names and weight shapes.
    again = build_backbone("resnet18")
    assert [layer.name for layer in again.layers] == names
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]


def test_resnet34_block_counts():
    names = {layer.name for layer in build_backbone("resnet34").layers}
    for stage, blocks in zip((2, 3, 4, 5), (3, 4, 6, 3)):
        assert f"resnet34_conv{stage}_block{blocks}_out" in names
        assert f"resnet34_conv{stage}_block{blocks + 1}_out" not in names


@pytest.mark.slow  # ~5 s on TensorFlow, ~30 s on JAX (random init compiles per weight shape)
def test_resnet50_and_resnet101_strides_and_weights_file(tmp_path):
    for name, blocks4 in (("resnet50", 6), ("resnet101", 23)):
        model = build_backbone(name)
        shapes, _ = _feature_shapes(model, 64, 64, batch=1)
        assert shapes == [(1, 16, 16, 256), (1, 8, 8, 512), (1, 4, 4, 1024), (1, 2, 2, 2048)]
        assert model.layers[1].name == f"{name}_normalization"
        assert model.get_layer(name).get_layer(f"conv4_block{blocks4}_out") is not None
    # A weights file of the plain keras.applications model loads into the backbone.
    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(None, None, 3))
    path = str(tmp_path / "resnet50_notop.weights.h5")
    reference.save_weights(path)
    loaded = build_backbone("resnet50", weights=path)
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    caffe = images[..., ::-1] - np.array(CAFFE_MEAN_BGR, "float32")
    expected = keras.ops.convert_to_numpy(reference(caffe))
    got = keras.ops.convert_to_numpy(loaded(images)[-1])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_normalization_is_inside_the_backbone():
    model = build_backbone("tiny")
    normalization = model.get_layer("tiny_normalization")
    out = keras.ops.convert_to_numpy(normalization(np.full((1, 4, 4, 3), 128.0, "float32")))
    expected = (128.0 / 255.0 - np.array(IMAGENET_MEAN_RGB)) / np.array(IMAGENET_STD_RGB)
    np.testing.assert_allclose(out[0, 0, 0], expected, rtol=1e-5)
    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    raw = keras.ops.convert_to_numpy(model(images)[0])
    scaled = keras.ops.convert_to_numpy(model(images / 255.0)[0])
    assert np.all(np.isfinite(raw))
    assert np.abs(raw - scaled).max() > 1e-3


def test_caffe_normalization_flips_to_bgr_and_subtracts_mean():
    layer = ImageNormalization(mean=CAFFE_MEAN_BGR, bgr=True)
    pixel = np.array([[[[10.0, 20.0, 30.0]]]], "float32")
    out = keras.ops.convert_to_numpy(layer(pixel))[0, 0, 0]
    np.testing.assert_allclose(out, np.array([30.0, 20.0, 10.0]) - np.array(CAFFE_MEAN_BGR), rtol=1e-6)
    clone = ImageNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_unknown_backbone_names_the_known_ones():
    known = "tiny, resnet18, resnet34, resnet50, resnet101"
    with pytest.raises(ValueError, match=f"Unknown backbone 'resnet7'; known backbones: {known}"):
        build_backbone("resnet7")
    with pytest.raises(ValueError, match="known backbones"):
        backbone_channels("vgg")
    assert BACKBONES == ("tiny", "resnet18", "resnet34", "resnet50", "resnet101")


def test_bad_weights_argument_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="no ImageNet weights ship for 'tiny'"):
        build_backbone("tiny", weights="imagenet")
    with pytest.raises(ValueError, match="missing.weights.h5"):
        build_backbone("resnet18", weights=str(tmp_path / "missing.weights.h5"))


def test_own_backbone_weights_file_round_trip(tmp_path):
    model = build_backbone("tiny")
    path = str(tmp_path / "tiny.weights.h5")
    model.save_weights(path)
    loaded = build_backbone("tiny", weights=path)
    images = np.random.default_rng(2).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    for a, b in zip(model(images), loaded(images)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6)


def _pyramid_model():
    """Five 3x3 stride-2 convs; one output (stride 32). Kernel shapes equal the tiny backbone's (JAX caches)."""
    images = keras.Input(shape=(None, None, 3))
    x = images
    for level, filters in zip((1, 2, 3, 4, 5), (8, 16, 24, 32, 32)):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", name=f"level{level}")(x)
    return keras.Model(images, x, name="toy")


def test_backbone_from_model_with_layer_names():
    backbone = backbone_from_model(_pyramid_model(), ["level2", "level3", "level4", "level5"])
    shapes, _ = _feature_shapes(backbone, 64, 96)
    assert shapes == [(2, 16, 24, 16), (2, 8, 12, 24), (2, 4, 6, 32), (2, 2, 3, 32)]
    assert backbone.name == "toy_backbone"


def test_backbone_from_model_pyramid_level_inputs_and_normalization():
    model = _pyramid_model()
    model.pyramid_level_inputs = {f"P{i}": f"level{i}" for i in (1, 2, 3, 4, 5)}
    backbone = backbone_from_model(model, normalization="torch")
    shapes, _ = _feature_shapes(backbone, 64, 96)
    assert shapes == [(2, 16, 24, 16), (2, 8, 12, 24), (2, 4, 6, 32), (2, 2, 3, 32)]
    assert backbone.layers[1].name == "toy_backbone_normalization"
    # Same weights: the adapted model equals the plain model on normalized input.
    images = np.random.default_rng(3).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    normalized = (images / 255.0 - np.array(IMAGENET_MEAN_RGB)) / np.array(IMAGENET_STD_RGB)
    level5 = keras.Model(model.inputs, model.get_layer("level5").output)
    expected = keras.ops.convert_to_numpy(level5(normalized.astype("float32")))
    got = keras.ops.convert_to_numpy(backbone(images)[-1])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_backbone_from_model_errors():
    with pytest.raises(ValueError, match="has no layer 'nope'"):
        backbone_from_model(_pyramid_model(), ["level2", "level3", "level4", "nope"])
    with pytest.raises(ValueError, match="need 4 feature maps"):
        backbone_from_model(_pyramid_model())
    with pytest.raises(ValueError, match="normalization must be"):
        backbone_from_model(_pyramid_model(), ["level2", "level3", "level4", "level5"], normalization="tf")
