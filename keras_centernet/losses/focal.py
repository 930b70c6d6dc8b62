"""Penalty-reduced pixel-wise focal loss on heatmap logits (CenterNet eq. 1)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_centernet")
class PenaltyReducedFocalLoss(keras.losses.Loss):
    """Focal loss with Gaussian penalty reduction, normalized by the number of objects.

        L = -1/N * sum_{xyc} { (1 - p)^alpha log(p)                    if Y = 1
                             { (1 - Y)^beta p^alpha log(1 - p)          otherwise

    with p = sigmoid(logits), N = max(number of Y == 1 cells in the batch, 1). Computed from logits with
    log(p) = -softplus(-x) and log(1 - p) = log(p) - x, so it is finite for any logit.

    `call` returns per-image values whose mean over the batch is L (each image's sum scaled by batch / N), so the
    default "sum_over_batch_size" reduction gives L and Keras's tf.distribute replica scaling stays correct.

    Args (call):
        y_true: heatmap targets [batch, height, width, classes] in [0, 1], exactly 1 at object centers.
        y_pred: heatmap logits, same shape.
    """

    def __init__(self, alpha=2.0, beta=4.0, name="penalty_reduced_focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        logits = ops.cast(y_pred, "float32")
        log_p = -ops.softplus(-logits)
        log_not_p = log_p - logits  # log(1 - p) = -softplus(x) = -softplus(-x) - x: one softplus, not two
        prob = ops.exp(log_p)
        positive = ops.cast(ops.equal(y_true, 1.0), "float32")
        positive_term = positive * self._power(1.0 - prob, self.alpha) * log_p
        penalty = self._power(1.0 - y_true, self.beta)
        negative_term = (1.0 - positive) * penalty * self._power(prob, self.alpha) * log_not_p
        per_image = -ops.sum(positive_term + negative_term, axis=(1, 2, 3))
        batch = ops.cast(ops.shape(per_image)[0], "float32")
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
        config.update(alpha=self.alpha, beta=self.beta)
        return config
