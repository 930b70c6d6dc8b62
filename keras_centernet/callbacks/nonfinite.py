"""Stop training at the first non-finite loss or weight, before anything saves the damage."""

import math

import keras


class NonFiniteLossError(RuntimeError):
    """The loss or a weight became NaN or infinite; the message names the step."""


def non_finite_weights(model):
    """Paths of `model`'s weights holding a NaN or infinity (one device-side reduction per weight, one sync)."""
    flags = keras.ops.stack([keras.ops.all(keras.ops.isfinite(v.value)) for v in model.weights])
    return [v.path for v, ok in zip(model.weights, keras.ops.convert_to_numpy(flags)) if not ok]


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` at the first batch whose loss is NaN/inf, and when a weight is (checked every
    `weights_every` steps and at every epoch end).

    The weights are checked too because a loss can stay finite while its gradients are not (a clipped
    probability of a NaN logit is finite). Raising (instead of Keras's TerminateOnNaN, which sets `stop_training`
    and lets the epoch end run) means no epoch-end callback saves a checkpoint, backup or history entry of the
    broken state: put this callback FIRST. `initial_step`: steps done before this fit (a resumed run).
    """

    def __init__(self, initial_step=0, weights_every=100):
        super().__init__()
        self.initial_step = int(initial_step)
        self.weights_every = int(weights_every)
        self._steps = 0

    def _check_weights(self, where):
        bad = non_finite_weights(self.model)
        if bad:
            raise NonFiniteLossError(
                f"{len(bad)} weights are not finite after step {self.initial_step + self._steps} ({where}), e.g. "
                f"{bad[0]}; stopped before saving: the last good checkpoint and backup are kept. Check the data "
                "and lower --learning_rate"
            )

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"the loss is {float(loss)} at step {self.initial_step + self._steps} (batch {batch + 1} of this "
                "epoch); stopped before saving: the last good checkpoint and backup are kept. Check the data and "
                "lower --learning_rate"
            )
        if self.weights_every > 0 and self._steps % self.weights_every == 0:
            self._check_weights(f"batch {batch + 1} of this epoch")

    def on_epoch_end(self, epoch, logs=None):
        self._check_weights(f"epoch {epoch + 1}")
