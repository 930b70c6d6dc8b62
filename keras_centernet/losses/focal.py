"""Penalty-reduced pixel-wise focal loss on heatmap logits (CenterNet eq. 1)."""

import keras
from keras import ops

NORMALIZATIONS = ("peaks", "boxes")


@keras.saving.register_keras_serializable(package="keras_centernet")
class PenaltyReducedFocalLoss(keras.losses.Loss):
    """Focal loss with Gaussian penalty reduction, normalized by the number of objects.

        L = -1/N * sum_{xyc} w_xy { (1 - p)^alpha log(p)                    if Y = 1
                                  { (1 - Y)^beta p^alpha log(1 - p)          otherwise

    with p = sigmoid(logits), w_xy the optional cell weight (1 without one) and N = max(number of Y == 1 cells in
    the batch, 1) (`normalization="peaks"`, default: the paper's code) or N = max(number of boxes in the batch, 1)
    (`normalization="boxes"`: the TF Object Detection API's `_compute_object_center_loss`; more than the peaks
    when boxes of one class share a center cell). Computed from logits with log(p) = -softplus(-x) and
    log(1 - p) = log(p) - x, so it is finite for any logit.

    `call` returns per-image values whose mean over the batch is L (each image's sum scaled by batch / N), so the
    default "sum_over_batch_size" reduction gives L and Keras's tf.distribute replica scaling stays correct.

    Args:
        alpha, beta: the focal and penalty exponents (2 and 4 in the paper).
        normalization: "peaks" or "boxes" (see above).

    Args (__call__):
        y_true: heatmap targets [batch, height, width, classes] in [0, 1], exactly 1 at object centers.
        y_pred: heatmap logits, same shape.
        sample_weight: optional cell weights [batch, height, width] applied to every class of a cell, e.g. 1 inside
            the real image and 0 on the letterbox padding (the OD API's `valid_anchor_weights`).
        num_boxes: boxes per image [batch]; required with `normalization="boxes"`, unused otherwise.
    """

    def __init__(self, alpha=2.0, beta=4.0, normalization="peaks", name="penalty_reduced_focal_loss", **kwargs):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"heatmap loss normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        super().__init__(name=name, **kwargs)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.normalization = normalization

    def __call__(self, y_true, y_pred, sample_weight=None, num_boxes=None):
        """The loss; with cell weights or box counts they travel to `call` as two more channels of y_true (cell
        weight, the image's box count), since Keras's own sample_weight weighs whole images."""
        if self.normalization == "boxes" and num_boxes is None:
            raise ValueError('PenaltyReducedFocalLoss(normalization="boxes") needs num_boxes: boxes per image [batch]')
        if sample_weight is None and num_boxes is None:
            return super().__call__(y_true, y_pred)
        y_true = ops.cast(y_true, "float32")
        cells = ops.ones_like(y_true[..., :1])
        weight = cells if sample_weight is None else cells * ops.cast(sample_weight, "float32")[..., None]
        boxes = ops.zeros_like(cells) if num_boxes is None else cells * ops.reshape(
            ops.cast(num_boxes, "float32"), (-1, 1, 1, 1)
        )
        return super().__call__(ops.concatenate([y_true, weight, boxes], axis=-1), y_pred)

    def call(self, y_true, y_pred):
        """y_true: the heatmap targets, or (from `__call__`) them and two more channels, the cell weight and the
        image's box count -> per-image values whose batch mean is L."""
        logits = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        weight = boxes = None
        if y_true.shape[-1] == logits.shape[-1] + 2:
            y_true, weight, boxes = y_true[..., :-2], y_true[..., -2:-1], y_true[:, 0, 0, -1]
        log_p = -ops.softplus(-logits)
        log_not_p = log_p - logits  # log(1 - p) = -softplus(x) = -softplus(-x) - x: one softplus, not two
        prob = ops.exp(log_p)
        positive = ops.cast(ops.equal(y_true, 1.0), "float32")
        positive_term = positive * self._power(1.0 - prob, self.alpha) * log_p
        penalty = self._power(1.0 - y_true, self.beta)
        negative_term = (1.0 - positive) * penalty * self._power(prob, self.alpha) * log_not_p
        terms = positive_term + negative_term
        per_image = -ops.sum(terms if weight is None else terms * weight, axis=(1, 2, 3))
        batch = ops.cast(ops.shape(per_image)[0], "float32")
        if self.normalization == "boxes":
            return per_image * batch / ops.maximum(ops.sum(boxes), 1.0)
        return per_image * batch / ops.maximum(ops.sum(positive), 1.0)

    @staticmethod
    def _power(x, exponent):
        """x ** exponent with squarings for the usual alpha 2 and beta 4 (cheaper than pow, same values)."""
        if exponent == 2.0:
            return ops.square(x)
        if exponent == 4.0:
            return ops.square(ops.square(x))
        return ops.power(x, exponent)

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, beta=self.beta, normalization=self.normalization)
        return config
