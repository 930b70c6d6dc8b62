"""Masked L1 loss for the size and offset heads, evaluated at object centers only."""

import keras
from keras import ops

NORMALIZATIONS = ("coordinates", "boxes")


@keras.saving.register_keras_serializable(package="keras_centernet")
class MaskedL1Loss(keras.losses.Loss):
    """Mean absolute error over the coordinates of the objects that count (CenterNet's RegL1Loss).

        L = sum_{i, k} mask_i |pred_ik - target_ik| / max(N * sum_i mask_i, 1)

    with N = K (`normalization="coordinates"`, default: the L1 error averaged over objects and their K = 2
    coordinates, w, h or dx, dy, as xingyizhou/CenterNet's RegL1Loss and the paper) or N = 1
    (`normalization="boxes"`: summed over the coordinates and averaged over objects, as the TF Object Detection
    API's CenterNet, i.e. exactly K = 2 times the "coordinates" value). Padded objects (mask 0) contribute nothing;
    a batch without objects gives 0.

    Args:
        normalization: "coordinates" or "boxes" (see above).

    Args (__call__):
        y_true: [batch, max_boxes, K] targets.
        y_pred: [batch, max_boxes, K] predictions gathered at the object centers.
        sample_weight: [batch, max_boxes] object mask (1 or 0), required: it is also the normalizer, so it is
            applied here rather than by Keras's reduction (which divides by the batch, not by the objects).
    """

    def __init__(self, normalization="coordinates", name="masked_l1_loss", **kwargs):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"box loss normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        super().__init__(name=name, **kwargs)
        self.normalization = normalization

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            raise ValueError("MaskedL1Loss needs sample_weight: the [batch, max_boxes] object mask")
        mask = ops.expand_dims(ops.cast(sample_weight, "float32"), -1)
        return super().__call__(ops.concatenate([ops.cast(y_true, "float32"), mask], -1), y_pred)

    def call(self, y_true, y_pred):
        """y_true: targets and the mask as a last channel (see `__call__`) -> per-image values whose batch mean
        is L."""
        target, mask = y_true[..., :-1], y_true[..., -1:]
        error = ops.abs(ops.cast(y_pred, "float32") - target) * mask
        per_image = ops.sum(error, axis=(1, 2))
        batch = ops.cast(ops.shape(per_image)[0], "float32")
        per_box = ops.cast(ops.shape(target)[-1], "float32") if self.normalization == "coordinates" else 1.0
        count = ops.sum(mask) * per_box
        return per_image * batch / ops.maximum(count, 1.0)

    def get_config(self):
        return {**super().get_config(), "normalization": self.normalization}
