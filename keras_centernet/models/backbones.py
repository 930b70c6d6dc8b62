"""Named backbones: images [B, H, W, 3] in 0..255 -> features [C2, C3, C4, C5] at strides 4, 8, 16, 32.

Every backbone normalizes its input inside (first layer), so the detector takes raw pixels:

- ``tiny``: a very small conv net for tests (16/24/32/32 channels), torch-style ImageNet normalization.
- ``resnet18``, ``resnet34``: our own ResNet v1 with basic blocks, laid out like torchvision's
  (7x7/2 stem, 3x3/2 max-pool, stages [2, 2, 2, 2] / [3, 4, 6, 3], 1x1/2 projection shortcuts), BN + ReLU,
  torch-style ImageNet normalization ``(x / 255 - mean) / std``.
- ``resnet50``, ``resnet101``: ``keras.applications.ResNet50`` / ``ResNet101`` (``include_top=False``) with
  their "caffe" preprocessing (RGB -> BGR, ImageNet mean subtraction); features are the outputs of
  ``conv2_block3_out``, ``conv3_block4_out``, ``conv4_block6_out`` (``conv4_block23_out``) and
  ``conv5_block3_out``, as in the TF Object Detection API's CenterNet ResNet v1 FPN.
- ``keras_hub:PRESET`` (or the path of a local keras-hub preset folder): a pretrained keras-hub backbone
  (``resnet_18_imagenet``, ``resnet_50_imagenet``, ...) with its preset's weights and input normalization,
  features its ``pyramid_outputs`` P2..P5 (see :mod:`keras_centernet.models.keras_hub_backbone`; needs the
  ``keras-hub`` extra).

Every layer has a stable, descriptive name (e.g. ``resnet18_conv2_block1_conv1``), so checkpoints can be
matched by name and shape.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_centernet.models.keras_hub_backbone import build_keras_hub_backbone, is_keras_hub_name

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

BACKBONES = ("tiny", "resnet18", "resnet34", "resnet50", "resnet101")

_CHANNELS = {
    "tiny": (16, 24, 32, 32),
    "resnet18": (64, 128, 256, 512),
    "resnet34": (64, 128, 256, 512),
    "resnet50": (256, 512, 1024, 2048),
    "resnet101": (256, 512, 1024, 2048),
}
_BASIC_BLOCK_STAGES = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
_APPLICATION_FEATURE_LAYERS = {
    "resnet50": ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
    "resnet101": ("conv2_block3_out", "conv3_block4_out", "conv4_block23_out", "conv5_block3_out"),
}
BN_EPSILON = 1e-5  # BatchNorm settings of every backbone and neck layer (necks import them)
BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package="keras_centernet")
class ImageNormalization(layers.Layer):
    """Normalizes raw pixels: ``(x[..., order] - mean) / std``.

    Input [B, H, W, 3] in 0..255 (RGB), output the same shape. ``bgr=True`` reverses the channel order
    first (``mean``/``std`` are then given in BGR order). Use :func:`torch_normalization` or
    :func:`caffe_normalization` for the two standard ImageNet conventions.
    """

    def __init__(self, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), bgr=False, **kwargs):
        super().__init__(**kwargs)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"ImageNormalization: mean and std need 3 values, got mean={mean}, std={std}")
        if any(s <= 0 for s in std):
            raise ValueError(f"ImageNormalization: std must be positive, got {std}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.bgr = bool(bgr)

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        if self.bgr:
            x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
        inv_std = ops.convert_to_tensor([1.0 / s for s in self.std], dtype=self.compute_dtype)
        return (x - mean) * inv_std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mean": list(self.mean), "std": list(self.std), "bgr": self.bgr})
        return config


def torch_normalization(name):
    """ImageNet normalization ``(x / 255 - mean) / std`` as a layer (RGB)."""
    return ImageNormalization(
        mean=[255.0 * m for m in IMAGENET_MEAN_RGB], std=[255.0 * s for s in IMAGENET_STD_RGB], name=name
    )


def caffe_normalization(name):
    """keras.applications ResNet v1 ("caffe") preprocessing: RGB -> BGR, minus the ImageNet BGR mean."""
    return ImageNormalization(mean=CAFFE_MEAN_BGR, std=(1.0, 1.0, 1.0), bgr=True, name=name)


def backbone_channels(name):
    """Channels of [C2, C3, C4, C5] of the named backbone."""
    _check_name(name)
    return _CHANNELS[name]


def build_backbone(name, weights=None):
    """Builds a named backbone.

    Args:
      name: one of :data:`BACKBONES`, or ``"keras_hub:PRESET"`` / a keras-hub preset folder (its weights).
      weights: ``None`` (random init; a keras-hub preset's own weights); for ``resnet50``/``resnet101`` also
        ``"imagenet"`` (downloads, needs network) or the path to a ``.h5`` / ``.weights.h5`` file of the matching
        ``keras.applications`` model with ``include_top=False``. Other backbones accept a path to a
        ``.weights.h5`` file of the same backbone (as saved by ``model.save_weights``).

    Returns:
      A ``keras.Model`` taking images [B, H, W, 3] float in 0..255 and returning the list
      [C2, C3, C4, C5] of feature maps [B, H/4, W/4, c2] ... [B, H/32, W/32, c5].
    """
    if is_keras_hub_name(name):
        return _build_keras_hub(name, weights)
    _check_name(name)
    if name in _APPLICATION_FEATURE_LAYERS:
        return _build_application_resnet(name, weights)
    if name == "tiny":
        model = _build_tiny()
    else:
        model = _build_basic_block_resnet(name)
    if weights is not None:
        if weights == "imagenet":
            raise ValueError(
                f"build_backbone: no ImageNet weights ship for {name!r}; pass weights=None or a path to a "
                f".weights.h5 file of this backbone (ImageNet weights: resnet50, resnet101)"
            )
        _check_weights_file(weights, name)
        model.load_weights(weights)
    return model


def backbone_from_model(model, layer_names=None, normalization=None, name=None):
    """Adapts any Keras model with multi-scale feature maps into a backbone.

    Args:
      model: a built functional ``keras.Model`` taking one image input [B, H, W, 3], e.g. a keras-cv /
        keras-hub backbone built with explicit arguments.
      layer_names: names of the 4 layers whose outputs are C2..C5 (strides 4, 8, 16, 32). ``None`` uses
        ``model.pyramid_outputs["P2".."P5"]`` (keras-hub) or ``model.pyramid_level_inputs`` (keras-cv), else the
        model's own outputs (which must be a list of 4).
      normalization: ``None`` (the model normalizes its input itself, or expects 0..255), ``"torch"``
        (``(x / 255 - mean) / std``), ``"caffe"`` (BGR, mean subtraction) or an :class:`ImageNormalization`
        layer, added as the first layer.
      name: name of the returned model (default ``"<model.name>_backbone"``).

    Returns:
      A ``keras.Model`` images [B, H, W, 3] -> [C2, C3, C4, C5].
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"backbone_from_model: model must be a keras.Model, got {type(model).__name__}")
    if layer_names is None:
        outputs = _pyramid_outputs(model)
    else:
        layer_names = list(layer_names)
        outputs = []
        for layer_name in layer_names:
            try:
                outputs.append(model.get_layer(layer_name).output)
            except ValueError as error:
                raise ValueError(f"backbone_from_model: model {model.name!r} has no layer {layer_name!r}") from error
    if len(outputs) != 4:
        raise ValueError(
            f"backbone_from_model: need 4 feature maps C2..C5 (strides 4, 8, 16, 32), model {model.name!r} "
            f"gives {len(outputs)}; pass layer_names"
        )
    if len(model.inputs) != 1:
        raise ValueError(f"backbone_from_model: model {model.name!r} must have one image input")
    name = name or f"{model.name}_backbone"
    if normalization is None:
        return keras.Model(model.inputs[0], outputs, name=name)
    normalizer = _normalizer(normalization, f"{name}_normalization")
    features = keras.Model(model.inputs[0], outputs, name=f"{model.name}_features")
    images = keras.Input(shape=model.inputs[0].shape[1:], name="images")
    return keras.Model(images, features(normalizer(images)), name=name)


def _normalizer(normalization, layer_name):
    """``"torch"`` / ``"caffe"`` -> that ImageNormalization named `layer_name`; an ImageNormalization -> itself."""
    if isinstance(normalization, ImageNormalization):
        return normalization
    normalizers = {"torch": torch_normalization, "caffe": caffe_normalization}
    if normalization not in normalizers:
        raise ValueError(
            f"backbone_from_model: normalization must be None, 'torch', 'caffe' or an ImageNormalization, "
            f"got {normalization!r}"
        )
    return normalizers[normalization](layer_name)


def _pyramid_outputs(model):
    """C2..C5 of a model: keras-hub's ``pyramid_outputs`` (tensors) or keras-cv's ``pyramid_level_inputs``
    (layer names) "P2".."P5", else the model's own outputs."""
    levels = ("P2", "P3", "P4", "P5")
    for attribute in ("pyramid_outputs", "pyramid_level_inputs"):
        pyramid = getattr(model, attribute, None)
        if not pyramid:
            continue
        missing = [level for level in levels if level not in pyramid]
        if missing:
            raise ValueError(
                f"backbone_from_model: {model.name}.{attribute} lacks {missing} (has {sorted(pyramid)}); "
                f"pass layer_names"
            )
        if attribute == "pyramid_outputs":
            return [pyramid[level] for level in levels]
        return [model.get_layer(pyramid[level]).output for level in levels]
    return model.outputs


def _check_name(name):
    if name not in BACKBONES:
        raise ValueError(
            f"Unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}, or keras_hub:PRESET "
            f"(e.g. keras_hub:resnet_50_imagenet) or a keras-hub preset folder"
        )


def _build_keras_hub(name, weights):
    if weights is not None:
        raise ValueError(
            f"build_backbone({name!r}): a keras-hub backbone takes its preset's weights; weights must be None, "
            f"got {weights!r} (fine-tune other weights with --fine_tune_ckpt)"
        )
    return build_keras_hub_backbone(name)


def _check_weights_file(weights, name):
    import os

    if not isinstance(weights, str | os.PathLike) or not os.path.isfile(weights):
        raise ValueError(
            f"build_backbone({name!r}): weights must be None, 'imagenet' or an existing weights file, got {weights!r}"
        )


def _build_application_resnet(name, weights):
    constructors = {"resnet50": keras.applications.ResNet50, "resnet101": keras.applications.ResNet101}
    if weights is not None and weights != "imagenet":
        _check_weights_file(weights, name)
        weights = str(weights)
    base = constructors[name](include_top=False, weights=weights, input_shape=(None, None, 3))
    features = keras.Model(
        base.inputs,
        [base.get_layer(layer).output for layer in _APPLICATION_FEATURE_LAYERS[name]],
        name=name,
    )
    images = keras.Input(shape=(None, None, 3), name="images")
    x = caffe_normalization(f"{name}_normalization")(images)
    return keras.Model(images, features(x), name=f"{name}_backbone")


def _conv_bn_relu(x, filters, kernel_size, strides, prefix, relu=True):
    """Conv (torch-style explicit padding for strided convs) -> BN -> optional ReLU."""
    if strides > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{prefix}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{prefix}_conv",
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}_bn")(x)
    if relu:
        x = layers.ReLU(name=f"{prefix}_relu")(x)
    return x


def _basic_block(x, filters, strides, prefix):
    """ResNet v1 basic block: 3x3 conv-BN-ReLU, 3x3 conv-BN, + shortcut (1x1/stride projection), ReLU."""
    shortcut = x
    if strides > 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters,
            1,
            strides=strides,
            use_bias=False,
            kernel_initializer="he_normal",
            name=f"{prefix}_downsample_conv",
        )(x)
        shortcut = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}_downsample_bn")(
            shortcut
        )
    y = _conv_bn_relu(x, filters, 3, strides, f"{prefix}_conv1")
    y = _conv_bn_relu(y, filters, 3, 1, f"{prefix}_conv2", relu=False)
    y = layers.Add(name=f"{prefix}_add")([shortcut, y])
    return layers.ReLU(name=f"{prefix}_out")(y)


def _build_basic_block_resnet(name):
    images = keras.Input(shape=(None, None, 3), name="images")
    x = torch_normalization(f"{name}_normalization")(images)
    x = _conv_bn_relu(x, 64, 7, 2, f"{name}_conv1")
    x = layers.ZeroPadding2D(1, name=f"{name}_pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool1")(x)
    features = []
    for stage, (blocks, filters) in enumerate(zip(_BASIC_BLOCK_STAGES[name], _CHANNELS[name]), start=2):
        for block in range(1, blocks + 1):
            strides = 2 if (block == 1 and stage > 2) else 1
            x = _basic_block(x, filters, strides, f"{name}_conv{stage}_block{block}")
        features.append(x)
    return keras.Model(images, features, name=f"{name}_backbone")


def _build_tiny():
    """Stem 3x3/2 (8 ch), then per stage a 3x3/2 conv and a 3x3 conv (BN + ReLU each)."""
    images = keras.Input(shape=(None, None, 3), name="images")
    x = torch_normalization("tiny_normalization")(images)
    x = _conv_bn_relu(x, 8, 3, 2, "tiny_stem")
    features = []
    for stage, filters in enumerate(_CHANNELS["tiny"], start=2):
        x = _conv_bn_relu(x, filters, 3, 2, f"tiny_conv{stage}_down")
        x = _conv_bn_relu(x, filters, 3, 1, f"tiny_conv{stage}_conv")
        features.append(x)
    return keras.Model(images, features, name="tiny_backbone")
