"""keras-centernet: CenterNet ("Objects as Points") object detection in pure Keras 3.

Importing the package is cheap: the public names below load Keras (any backend) on first use. TensorFlow is imported
only by `keras_centernet.data`, the Horovod callbacks and the SavedModel export, when they are used.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "CenterNet": "keras_centernet.models.centernet",
    "CenterNetDecoder": "keras_centernet.layers.decoder",
    "CenterNetHead": "keras_centernet.layers.heads",
    "CenterNetLabelEncoder": "keras_centernet.layers.target_encoder",
    "MaskedL1Loss": "keras_centernet.losses.regression",
    "PenaltyReducedFocalLoss": "keras_centernet.losses.focal",
    "backbone_from_model": "keras_centernet.models.backbones",
    "build_backbone": "keras_centernet.models.backbones",
    "build_neck": "keras_centernet.models.necks",
    "Detector": "keras_centernet.inference",
    "load_matching_weights": "keras_centernet.models.weights",
    "train": "keras_centernet.training",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_centernet' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
