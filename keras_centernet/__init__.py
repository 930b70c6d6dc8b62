"""keras-centernet: CenterNet ("Objects as Points") object detection in pure Keras 3.

Importing the package registers every serializable class (model, layers, losses, learning-rate schedule), so
`keras.saving.load_model("model.keras")` works after `import keras_centernet`. It needs Keras only (any backend);
TensorFlow is imported by `keras_centernet.data`, the Horovod callbacks and the SavedModel export when used.

The `keras-centernet` command (`keras_centernet_command.py`) imports the package with KERAS_CENTERNET_LAZY_IMPORT=1:
nothing is registered at import, so `--help` and `--version` import neither Keras nor TensorFlow; every command that
runs calls `register_serializables()` during its quiet start. Names below resolve on first use either way.
"""

import os

from keras_centernet._lazy import lazy_exports
from keras_centernet._version import __version__  # noqa: F401 - in __all__

LAZY_IMPORT_ENV = "KERAS_CENTERNET_LAZY_IMPORT"

_MODULES = {
    "keras_centernet.layers": ("CenterNetDecoder", "CenterNetHead", "CenterNetLabelEncoder"),
    "keras_centernet.losses": ("MaskedL1Loss", "PenaltyReducedFocalLoss"),
    "keras_centernet.models": ("CenterNet", "backbone_from_model", "build_backbone", "build_neck"),
    "keras_centernet.models.weights": ("load_matching_weights",),
    "keras_centernet.schedules": ("WarmupPiecewiseSchedule",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted([*_EXPORTS, "__version__", "register_serializables"])
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def register_serializables():
    """Imports the modules whose classes Keras deserializes from a saved model (registration happens at import)."""
    import importlib

    for module in _MODULES:
        importlib.import_module(module)


if os.environ.get(LAZY_IMPORT_ENV) != "1":
    register_serializables()
