"""CenterNet losses: penalty-reduced focal loss for heatmaps, masked L1 for size and offset."""

from keras_centernet.losses.focal import PenaltyReducedFocalLoss
from keras_centernet.losses.regression import MaskedL1Loss

__all__ = ["PenaltyReducedFocalLoss", "MaskedL1Loss"]
