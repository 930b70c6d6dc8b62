"""--fine_tune_ckpt from a keras-hub preset and from a CenterNet .keras with another backbone input size (the
same-layout .keras / .weights.h5 cases are in tests/test_training.py)."""

import keras
import numpy as np
import pytest

from keras_centernet.models.backbones import backbone_from_model
from keras_centernet.models.centernet import CenterNet
from keras_centernet.models.weights import check_fine_tune_ckpt, load_matching_weights
from keras_centernet.training.checks import check_training_inputs
from keras_centernet.validation import InputError
from tests.models.test_keras_hub_backbone import save_tiny_preset

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """Two tiny keras-hub ResNet presets of the same architecture and different weights: (folder_a, (folder_b,
    backbone_b))."""
    root = tmp_path_factory.mktemp("fine_tune_presets")
    save_tiny_preset(root / "a", seed=1)
    return str(root / "a"), (str(root / "b"), save_tiny_preset(root / "b", seed=2))


def _values(model):
    return {variable.path: variable.numpy() for variable in model.weights}


def test_fine_tune_from_a_keras_hub_preset_loads_its_backbone(presets):
    folder_a, (folder_b, hub_b) = presets
    for checkpoint in (folder_b, f"keras_hub:{folder_b}"):
        model = CenterNet(3, backbone=f"keras_hub:{folder_a}", neck="fpn", image_size=64)
        before = _values(model)
        printed = []
        loaded, skipped = load_matching_weights(model, checkpoint, print_fn=printed.append)
        expected = _values(hub_b)
        assert sorted(loaded) == sorted(expected) and len(loaded) == len(hub_b.weights)
        after = _values(model)
        for path, value in expected.items():
            np.testing.assert_array_equal(after[path], value)
            assert not np.array_equal(before[path], value)  # the two presets differ: a real load happened
        for path, reason in skipped:  # neck and heads: untouched
            assert reason == "not in the checkpoint"
            np.testing.assert_array_equal(after[path], before[path])
        (line,) = printed
        assert line.startswith(f"fine-tune: loaded {len(loaded)} of {len(model.weights)} weight arrays from keras-hub")
        neck = sum(1 for path in after if path.startswith("neck/"))
        assert f"neck: {neck} arrays (not in the checkpoint)" in line and "heatmap_head: 4 arrays" in line


def test_fine_tune_from_a_centernet_with_another_backbone_input_size(presets, tmp_path):
    """Source: 5 classes, backbone fixed to 128x128 inputs, trained at 128; target: 3 classes, any size, 64."""
    keras_hub = pytest.importorskip("keras_hub")
    folder_a, (folder_b, _) = presets
    fixed = keras_hub.models.Backbone.from_preset(folder_b)
    config = fixed.get_config()
    config["image_shape"] = (128, 128, 3)
    fixed_128 = fixed.__class__.from_config(config)
    fixed_128.set_weights(fixed.get_weights())
    source = CenterNet(5, backbone=backbone_from_model(fixed_128, normalization="torch"), neck="fpn", image_size=128)
    source.save(tmp_path / "source_128.keras")
    target = CenterNet(3, backbone=f"keras_hub:{folder_a}", neck="fpn", image_size=64)
    printed = []
    loaded, skipped = load_matching_weights(target, str(tmp_path / "source_128.keras"), print_fn=printed.append)
    heads = ["heatmap_head/output_conv/bias", "heatmap_head/output_conv/kernel"]
    assert sorted(path for path, _ in skipped) == heads
    assert len(loaded) == len(target.weights) - 2
    expected, after = _values(source), _values(target)
    for path in loaded:
        np.testing.assert_array_equal(after[path], expected[path])
    assert printed == [
        f"fine-tune: loaded {len(loaded)} of {len(target.weights)} weight arrays from {tmp_path / 'source_128.keras'}"
        f"; skipped heatmap_head/output_conv/kernel, heatmap_head/output_conv/bias (another shape in the checkpoint: "
        f"(1, 1, 64, 5) vs (1, 1, 64, 3))"
    ]
    images = np.random.default_rng(0).uniform(0, 255, (1, 128, 128, 3)).astype("float32")  # the source's size
    np.testing.assert_array_equal(target(images)["size"], source(images)["size"])


def test_fine_tune_checkpoint_names_are_checked(tmp_path):
    with pytest.raises(FileNotFoundError, match="--fine_tune_ckpt .*no such file or keras-hub preset folder"):
        check_fine_tune_ckpt(str(tmp_path))
    with pytest.raises(InputError, match="--fine_tune_ckpt .*no such file or keras-hub preset folder"):
        check_training_inputs(str(tmp_path), str(tmp_path / "m"), 64, 2, fine_tune_ckpt=str(tmp_path / "none.keras"))
    (tmp_path / "model.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="expected a .keras or .weights.h5 file, keras_hub:PRESET"):
        load_matching_weights(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), str(tmp_path / "model.h5"))
    assert check_fine_tune_ckpt("keras_hub:resnet_50_imagenet") == "keras_hub:resnet_50_imagenet"
