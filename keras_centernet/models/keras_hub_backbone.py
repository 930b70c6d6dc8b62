"""Pretrained backbones from keras-hub presets: ``"keras_hub:PRESET"`` -> images [B, H, W, 3] in 0..255 ->
[C2, C3, C4, C5] (keras-hub's ``pyramid_outputs`` P2..P5, strides 4, 8, 16, 32).

PRESET is a built-in keras-hub name (``resnet_18_imagenet``, ``resnet_50_imagenet``, ...: downloaded once into
``~/.cache/kagglehub``), a Kaggle / Hugging Face handle, or a local preset folder (``backbone.save_to_preset``);
a bare path to a folder holding a preset's ``config.json`` works too. The preset's image converter supplies the
input normalization (``x * scale + offset``, for the ResNet presets ``(x / 255 - mean) / std`` with the ImageNet
mean and std), applied inside the model as an :class:`~keras_centernet.models.backbones.ImageNormalization`.

keras-hub is an optional extra (``pip install "keras-centernet[keras-hub]"``), imported only when asked for.
"""

from __future__ import annotations

import os

import numpy as np

PREFIX = "keras_hub:"
PYRAMID_LEVELS = ("P2", "P3", "P4", "P5")
EXTRA_HINT = 'pip install "keras-centernet[keras-hub]"'


def is_keras_hub_name(name):
    """True for ``"keras_hub:PRESET"`` and for the path of a local keras-hub preset folder."""
    if not isinstance(name, str | os.PathLike):
        return False
    name = os.fspath(name)
    return name.startswith(PREFIX) or os.path.isfile(os.path.join(name, "config.json"))


def preset_of(name):
    """``"keras_hub:PRESET"`` or a preset folder -> the preset keras-hub loads (a name, handle or folder)."""
    name = os.fspath(name)
    preset = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    if not preset:
        raise ValueError(f"backbone {name!r}: name a preset after {PREFIX!r}, e.g. {PREFIX}resnet_50_imagenet")
    return os.path.expanduser(preset)


def import_keras_hub(name):
    """The ``keras_hub`` module; a one-line ImportError naming the extra when it is not installed."""
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(f"backbone {name!r} needs keras-hub: {EXTRA_HINT}") from error
    return keras_hub


def load_preset_backbone(name, load_weights=True):
    """The preset's ``keras_hub.models.Backbone`` (its own weights when ``load_weights``), accepting any image
    size ([None, None, channels] input)."""
    keras_hub = import_keras_hub(name)
    preset = preset_of(name)
    _check_local_preset(name, preset)
    try:
        backbone = keras_hub.models.Backbone.from_preset(preset, load_weights=load_weights)
    except (ValueError, FileNotFoundError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"backbone {name!r}: keras-hub cannot load preset {preset!r}: {first_line}") from error
    return _any_image_size(backbone)


def preset_normalization(name, layer_name):
    """An ``ImageNormalization`` equal to the preset's image converter ``x * scale + offset`` (0..255 input)."""
    from keras_centernet.models.backbones import ImageNormalization

    keras_hub = import_keras_hub(name)
    preset = preset_of(name)
    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except FileNotFoundError as error:
        raise ValueError(
            f"backbone {name!r}: preset {preset!r} has no image converter (image_converter.json), so its input "
            f"normalization is unknown; save one with keras_hub.layers.ImageConverter(scale=..., offset=...)"
            f".save_to_preset(folder)"
        ) from error
    scale = np.broadcast_to(np.asarray(1.0 if converter.scale is None else converter.scale, "float64"), (3,))
    offset = np.broadcast_to(np.asarray(0.0 if converter.offset is None else converter.offset, "float64"), (3,))
    if np.any(scale <= 0):
        raise ValueError(f"backbone {name!r}: image converter scale must be positive, got {converter.scale}")
    # x * scale + offset == (x - mean) / std with std = 1 / scale, mean = -offset / scale.
    return ImageNormalization(mean=list(-offset / scale), std=list(1.0 / scale), name=layer_name)


def build_keras_hub_backbone(name, load_weights=True):
    """``"keras_hub:PRESET"`` (or a preset folder) -> ``keras.Model`` images [B, H, W, 3] in 0..255 ->
    [C2, C3, C4, C5] = the preset's P2..P5, [B, H/4, W/4, c2] ... [B, H/32, W/32, c5]."""
    from keras_centernet.models.backbones import backbone_from_model

    hub_backbone = load_preset_backbone(name, load_weights=load_weights)
    pyramid = getattr(hub_backbone, "pyramid_outputs", None) or {}
    missing = [level for level in PYRAMID_LEVELS if level not in pyramid]
    if missing:
        raise ValueError(
            f"backbone {name!r}: {type(hub_backbone).__name__} has no pyramid outputs {missing} (has "
            f"{sorted(pyramid)}); use a keras-hub FeaturePyramidBackbone such as a ResNet preset"
        )
    normalization = preset_normalization(name, "keras_hub_normalization")
    return backbone_from_model(hub_backbone, normalization=normalization, name="keras_hub_backbone")


def preset_weights(name):
    """{variable path: numpy value} of the preset backbone's weights (for fine-tuning by name and shape)."""
    backbone = load_preset_backbone(name, load_weights=True)
    return {variable.path: np.asarray(variable.numpy()) for variable in backbone.weights}


def _check_local_preset(name, preset):
    looks_local = os.path.isabs(preset) or preset.startswith((".", "~")) or os.sep in preset.split("://")[-1]
    if "://" not in preset and looks_local and not os.path.isfile(os.path.join(preset, "config.json")):
        raise ValueError(f"backbone {name!r}: {preset!r} is not a keras-hub preset folder (no config.json)")


def _any_image_size(backbone):
    """The same backbone (weights copied) with its image input [None, None, channels] when the preset fixed
    height and width; convolutional weights do not depend on the input size."""
    config = backbone.get_config()
    shape = config.get("image_shape")
    if not shape or (shape[0] is None and shape[1] is None):
        return backbone
    config["image_shape"] = (None, None, shape[-1])
    resized = backbone.__class__.from_config(config)
    resized.set_weights(backbone.get_weights())
    return resized
