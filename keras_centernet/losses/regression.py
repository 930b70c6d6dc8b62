"""Masked L1 loss for the size and offset heads, evaluated at object centers only."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_centernet")
class MaskedL1Loss(keras.losses.Loss):
    """Mean absolute error over the coordinates of the objects that count (CenterNet's RegL1Loss).

        L = sum_{i, k} mask_i |pred_ik - target_ik| / max(K * sum_i mask_i, 1)

    i.e. the L1 error averaged over objects and their K coordinates (K = 2: w, h or dx, dy), as the reference code
    does. Padded objects (mask 0) contribute nothing; a batch without objects gives 0.

    `call` returns per-image values whose batch mean is L (see `PenaltyReducedFocalLoss`).

    Args (call):
        y_true: [batch, max_boxes, K + 1]: K targets followed by the mask (1 or 0) in the last channel.
        y_pred: [batch, max_boxes, K] predictions gathered at the object centers.
    """

    def __init__(self, name="masked_l1_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        target, mask = y_true[..., :-1], y_true[..., -1:]
        error = ops.abs(ops.cast(y_pred, "float32") - target) * mask
        per_image = ops.sum(error, axis=(1, 2))
        batch = ops.cast(ops.shape(per_image)[0], "float32")
        count = ops.sum(mask) * ops.cast(ops.shape(target)[-1], "float32")
        return per_image * batch / ops.maximum(count, 1.0)
