"""keras-hub preset backbones (``keras_hub:PRESET`` / a preset folder), tested offline with a tiny random ResNet
saved as a local preset."""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_centernet.models.backbones import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, build_backbone
from keras_centernet.models.centernet import CenterNet
from keras_centernet.models.keras_hub_backbone import EXTRA_HINT, is_keras_hub_name, preset_of

pytestmark = pytest.mark.tensorflow
CHANNELS = (64, 8, 8, 8)  # keras-hub's basic-block ResNet needs 64 filters in its first stage


def save_tiny_preset(folder, seed=0, image_shape=(None, None, 3), converter=True):
    """A random 4-stage basic-block keras-hub ResNet (P2..P5 = CHANNELS) saved as a preset in `folder`, with the
    ResNet presets' image converter (torch-style ImageNet normalization); returns the keras-hub backbone."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=list(CHANNELS),
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=image_shape,
    )  # fmt: skip
    for variable in backbone.weights:  # BN statistics too, so a wrong load cannot pass as the default init
        variable.assign(np.random.default_rng(seed + len(variable.path)).normal(1.0, 0.1, variable.shape))
    backbone.save_to_preset(str(folder))
    if converter:
        keras_hub.layers.ResNetImageConverter(
            scale=[1 / (255 * s) for s in IMAGENET_STD_RGB],
            offset=[-m / s for m, s in zip(IMAGENET_MEAN_RGB, IMAGENET_STD_RGB)],
        ).save_to_preset(str(folder))
    return backbone


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    """(folder, keras-hub backbone) of a tiny random ResNet preset."""
    folder = tmp_path_factory.mktemp("presets") / "tiny_resnet"
    return str(folder), save_tiny_preset(folder, seed=1)


def _values(model):
    return {variable.path: variable.numpy() for variable in model.weights}


def test_names_and_presets():
    assert is_keras_hub_name("keras_hub:resnet_50_imagenet") and not is_keras_hub_name("resnet50")
    assert preset_of("keras_hub:resnet_18_imagenet") == "resnet_18_imagenet"
    assert preset_of("keras_hub:~/p") == os.path.expanduser("~/p")
    with pytest.raises(ValueError, match="name a preset after 'keras_hub:'"):
        preset_of("keras_hub:")


def test_preset_features_equal_keras_hub_pyramid_on_its_converted_images(preset):
    """Our backbone on raw 0..255 pixels == keras-hub's own P2..P5 on its image converter's output."""
    keras_hub = pytest.importorskip("keras_hub")
    folder, hub = preset
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    converter = keras_hub.layers.ImageConverter.from_preset(folder)
    reference = keras.Model(hub.inputs, [hub.pyramid_outputs[level] for level in ("P2", "P3", "P4", "P5")])
    expected = reference(converter(images), training=False)
    for name in (f"keras_hub:{folder}", folder):
        backbone = build_backbone(name)
        features = backbone(images, training=False)
        shapes = [(2, 64 // stride, 64 // stride, c) for stride, c in zip((4, 8, 16, 32), CHANNELS)]
        assert [tuple(f.shape) for f in features] == shapes
        for ours, theirs in zip(features, expected):
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-4)
        normalization = backbone.get_layer("keras_hub_normalization")
        np.testing.assert_allclose(normalization.mean, [255 * m for m in IMAGENET_MEAN_RGB], rtol=1e-6)
        np.testing.assert_allclose(normalization.std, [255 * s for s in IMAGENET_STD_RGB], rtol=1e-6)


def test_centernet_from_preset_trains_with_the_preset_weights(preset, synthetic_64):
    folder, hub = preset
    model = CenterNet(3, backbone=f"keras_hub:{folder}", neck="fpn", image_size=64)
    expected = _values(hub)
    loaded = {path: value for path, value in _values(model.backbone_model).items() if path in expected}
    assert len(loaded) == len(expected) == len(hub.weights)
    for path, value in expected.items():
        np.testing.assert_array_equal(loaded[path], value)
    images, boxes, labels = synthetic_64
    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(
        images[:12].astype("float32"), {"boxes": boxes[:12], "labels": labels[:12]}, batch_size=4, epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][-1])
    trained = _values(model.backbone_model)
    assert any(not np.array_equal(trained[path], value) for path, value in expected.items()), "backbone not trained"


def test_saved_model_round_trip_and_self_contained_backbone(preset, tmp_path):
    """A name-built model reloads while its preset folder exists; one built from `build_backbone(...)` carries the
    whole backbone and reloads after the preset folder is gone. Both predict identically."""
    folder = str(tmp_path / "preset")
    shutil.copytree(preset[0], folder)
    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    by_name = CenterNet(2, backbone=f"keras_hub:{folder}", neck="deconv", image_size=64)
    by_model = CenterNet(2, backbone=build_backbone(folder), neck="deconv", image_size=64)
    for model, file in ((by_name, "by_name.keras"), (by_model, "by_model.keras")):
        model.save(tmp_path / file)
    restored = keras.saving.load_model(tmp_path / "by_name.keras")
    np.testing.assert_array_equal(restored(images)["heatmap"], by_name(images)["heatmap"])
    shutil.rmtree(folder)
    restored = keras.saving.load_model(tmp_path / "by_model.keras")
    for key in ("heatmap", "size", "offset"):
        np.testing.assert_array_equal(restored(images)[key], by_model(images)[key])
    with pytest.raises(ValueError, match="is not a keras-hub preset folder"):
        keras.saving.load_model(tmp_path / "by_name.keras")


def test_bad_presets_fail_in_one_line(tmp_path, monkeypatch):
    save_tiny_preset(tmp_path / "no_converter", converter=False)
    with pytest.raises(ValueError, match="has no image converter"):
        build_backbone(f"keras_hub:{tmp_path / 'no_converter'}")
    with pytest.raises(ValueError, match="is not a keras-hub preset folder"):
        build_backbone(f"keras_hub:{tmp_path}")
    with pytest.raises(ValueError, match="takes its preset's weights"):
        build_backbone(f"keras_hub:{tmp_path / 'no_converter'}", weights="imagenet")
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match="keras-centernet\\[keras-hub\\]") as error:
        build_backbone("keras_hub:resnet_18_imagenet")
    assert "\n" not in str(error.value) and EXTRA_HINT in str(error.value)


def test_fixed_size_preset_accepts_any_image_size(tmp_path):
    hub = save_tiny_preset(tmp_path / "fixed", seed=2, image_shape=(128, 128, 3))
    backbone = build_backbone(str(tmp_path / "fixed"))
    features = backbone(np.zeros((1, 64, 96, 3), "float32"))
    assert tuple(features[-1].shape) == (1, 2, 3, CHANNELS[-1])
    for variable, value in zip(backbone.weights, hub.get_weights()):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_keras_hub_is_imported_only_when_asked_for():
    code = (
        "import sys, keras_centernet, keras_centernet.models.backbones, keras_centernet.models.weights\n"
        "keras_centernet.models.backbones.build_backbone('tiny')\n"
        "assert 'keras_hub' not in sys.modules, 'keras_hub imported'\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_train_command_with_a_preset_backbone_saves_a_self_contained_model(preset, synthetic_records, tmp_path):
    folder = str(tmp_path / "preset")
    shutil.copytree(preset[0], folder)
    model_dir = str(tmp_path / "run")
    command = [
        sys.executable, "-m", "keras_centernet.cli", "train", "--data_dir", synthetic_records, "--model_dir", model_dir,
        "--backbone", f"keras_hub:{folder}", "--neck", "fpn", "--image_size", "64", "--batch_size", "4",
        "--epochs", "1", "--steps_per_epoch", "2", "--seed", "0",
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    shutil.rmtree(folder)  # the saved model needs neither the preset nor network
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    assert model.backbone_model.get_layer("keras_hub_normalization").std[0] == pytest.approx(255 * 0.229)
    trained, initial = _values(model.backbone_model)["conv1_conv/kernel"], _values(preset[1])["conv1_conv/kernel"]
    assert np.isfinite(trained).all() and not np.array_equal(trained, initial)
    detections = model.predict(np.full((1, 64, 64, 3), 128.0, "float32"), verbose=0)
    assert np.isfinite(detections["scores"]).all()
