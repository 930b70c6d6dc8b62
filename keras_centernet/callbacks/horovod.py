"""Horovod callbacks for Keras 3 `model.fit` (over `horovod.tensorflow`), in the order a training script wires them:

- `BroadcastGlobalVariablesCallback`: rank 0's model and optimizer variables to every rank at train start.
- `SyncNonTrainableVariablesCallback`: averages BatchNorm moving statistics (rank-local otherwise) at
  each epoch end, so checkpoints reflect every rank's data and all ranks hold identical weights.
- `MetricAverageCallback`: epoch logs averaged over ranks (put it before checkpoint/TensorBoard/History
  consumers that read the logs).

The gradient reducer and the XLA policy are in `keras_centernet.horovod`; rank-0 gating (`chief_only`,
`chief_verbose`) in `keras_centernet.distribution`. Horovod is imported lazily.
"""

import keras
import numpy as np

from keras_centernet.horovod import import_horovod


def _tf_variables(variables):
    """Keras 3 variables -> their backing `tf.Variable`s (what Horovod's broadcast assigns to)."""
    return [v.value if isinstance(v, keras.Variable) else v for v in variables]


class BroadcastGlobalVariablesCallback(keras.callbacks.Callback):
    """Copies rank ``root_rank``'s model and optimizer variables to every rank before the first step (once, also
    when the callback is passed to several ``fit`` calls of one run).

    Builds the optimizer first (``optimizer.build(model.trainable_variables)``) so its slots and
    iteration counter are broadcast too (what resuming from a checkpoint needs). If the model is not yet
    built at train start, the broadcast happens after the first batch instead. ``include_non_trainable``
    False leaves each rank's BatchNorm moving statistics as they are: right when every rank restored its own
    backup of the same step (they differ between ranks until the epoch end averages them).
    """

    def __init__(self, root_rank=0, include_non_trainable=True):
        super().__init__()
        self.root_rank = root_rank
        self.include_non_trainable = bool(include_non_trainable)
        self.broadcast_done = False

    def _broadcast(self):
        hvd = import_horovod()
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        variables = list(self.model.variables if self.include_non_trainable else self.model.trainable_variables)
        if optimizer is not None:
            variables += list(optimizer.variables)
        hvd.broadcast_variables(_tf_variables(variables), root_rank=self.root_rank)
        self.broadcast_done = True

    def on_train_begin(self, logs=None):
        if not self.broadcast_done and self.model.built and self.model.variables:
            self._broadcast()

    def on_train_batch_end(self, batch, logs=None):
        if not self.broadcast_done:
            self._broadcast()


class SyncNonTrainableVariablesCallback(keras.callbacks.Callback):
    """Averages the model's floating-point non-trainable variables (BatchNorm moving mean/variance) over
    ranks at each epoch end. Place it before checkpoint callbacks."""

    def _average(self):
        hvd = import_horovod()
        variables = [v for v in self.model.non_trainable_variables if np.dtype(v.dtype).kind == "f"]
        if not variables:
            return
        by_dtype = {}
        for v in variables:
            by_dtype.setdefault(np.dtype(v.dtype).name, []).append(v)
        for dtype, group in sorted(by_dtype.items()):
            averaged = hvd.grouped_allreduce([v.value for v in group], op=hvd.Average, name=f"non_trainable_{dtype}")
            for v, value in zip(group, averaged):
                v.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        self._average()


class MetricAverageCallback(keras.callbacks.Callback):
    """Replaces each numeric value in the epoch logs by its average over ranks (in place, so callbacks
    after it — History, ModelCheckpoint, TensorBoard — see the averages).

    Only keys every rank logged are averaged (a chief-only callback before it may add its own keys, e.g.
    per-class AP); the others stay as they are.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        hvd = import_horovod()
        import tensorflow as tf

        local = {k for k, v in logs.items() if np.ndim(v) == 0 and np.asarray(v).dtype.kind in "fiu"}
        keys = sorted(set.intersection(*map(set, hvd.allgather_object(sorted(local)))))
        if not keys:
            return
        values = tf.constant([float(np.asarray(logs[k])) for k in keys], dtype=tf.float64)
        averaged = hvd.allreduce(values, op=hvd.Average, name="metric_average").numpy()
        for key, value in zip(keys, averaged):
            logs[key] = float(value)


def horovod_callbacks(root_rank=0, average_metrics=True, sync_non_trainable=True, broadcast_non_trainable=True):
    """The Horovod callbacks in the order they must precede every other callback:
    broadcast (see its ``include_non_trainable``), non-trainable averaging, metric averaging."""
    callbacks = [BroadcastGlobalVariablesCallback(root_rank=root_rank, include_non_trainable=broadcast_non_trainable)]
    if sync_non_trainable:
        callbacks.append(SyncNonTrainableVariablesCallback())
    if average_metrics:
        callbacks.append(MetricAverageCallback())
    return callbacks
