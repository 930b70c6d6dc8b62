"""keras-centernet: CenterNet ("Objects as Points") object detection in pure Keras 3.

Importing the package registers every serializable class (model, layers, losses, learning-rate schedule), so
`keras.saving.load_model("model.keras")` works after `import keras_centernet`. It needs Keras only (any backend);
TensorFlow is imported by `keras_centernet.data`, the Horovod callbacks and the SavedModel export when used.
"""

from keras_centernet._version import __version__  # noqa: E402 - no Keras needed (the CLI reads it)
from keras_centernet.layers import CenterNetDecoder, CenterNetHead, CenterNetLabelEncoder  # noqa: E402
from keras_centernet.losses import MaskedL1Loss, PenaltyReducedFocalLoss  # noqa: E402
from keras_centernet.models import CenterNet, backbone_from_model, build_backbone, build_neck  # noqa: E402
from keras_centernet.models.weights import load_matching_weights  # noqa: E402
from keras_centernet.schedules import WarmupPiecewiseSchedule  # noqa: E402

__all__ = [
    "CenterNet",
    "CenterNetDecoder",
    "CenterNetHead",
    "CenterNetLabelEncoder",
    "MaskedL1Loss",
    "PenaltyReducedFocalLoss",
    "WarmupPiecewiseSchedule",
    "__version__",
    "backbone_from_model",
    "build_backbone",
    "build_neck",
    "load_matching_weights",
]
