"""Horovod for Keras 3 `model.fit`, over `horovod.tensorflow` (``horovod.tensorflow.keras`` needs Keras 2).

Pieces, in the order a training script wires them (see README, Scaling):

- `HorovodGradientReducer`: set as ``model.gradient_reducer``; `CenterNet.train_step` calls it on the
  gradients after the tape and before ``optimizer.apply`` (all-reduce, average, optional fp16 wire format).
- `horovod_jit_compile(jit_compile)`: XLA cannot wrap Horovod's collective ops; resolves to False.
- `BroadcastGlobalVariablesCallback`: rank 0's model and optimizer variables to every rank at train start.
- `SyncNonTrainableVariablesCallback`: averages BatchNorm moving statistics (rank-local otherwise) at
  each epoch end, so checkpoints reflect every rank's data and all ranks hold identical weights.
- `MetricAverageCallback`: epoch logs averaged over ranks (put it before checkpoint/TensorBoard/History
  consumers that read the logs).
- `WarmupPiecewiseSchedule` + `scale_lr` (re-exported from `keras_centernet.schedules`): the learning rate stated
  for a reference global batch, scaled with the actual global batch (the same rule for every launcher).
- `chief_only` / `chief_verbose`: checkpoints, TensorBoard and progress bars on rank 0 only.

Horovod is imported lazily; the learning-rate schedule and gating helpers work without it.
"""

import keras
import numpy as np

from keras_centernet.schedules import WarmupPiecewiseSchedule, make_learning_rate_schedule, scale_lr  # noqa: F401

COMPRESSIONS = ("none", "fp16")


def _hvd():
    try:
        import horovod.tensorflow as hvd
    except ImportError as error:
        raise RuntimeError(
            f"horovod.tensorflow cannot be imported ({error}); build it with "
            "PYTHON=$(which python) bash scripts/install_horovod.sh"
        ) from error
    return hvd


def horovod_jit_compile(jit_compile="auto"):
    """The ``jit_compile`` to pass to `model.compile` under Horovod: always False.

    Keras's "auto" turns XLA on for GPUs; Horovod's all-reduce is a custom op that XLA cannot compile
    (Horovod 0.28.1's XLA ops do not build against TensorFlow >= 2.16), so an explicit True is an error.
    """
    if jit_compile is True:
        raise ValueError(
            "jit_compile=True (XLA) cannot be used with Horovod: Horovod's all-reduce runs as a TensorFlow "
            "custom op that XLA cannot compile (Horovod 0.28.1 is built without its XLA ops, "
            "horovod/tensorflow/xla_mpi_ops.cc, which do not build against TensorFlow >= 2.16). "
            "Train with jit_compile=False (the default with --use_horovod), or drop --use_horovod to use XLA "
            "on a single device."
        )
    if jit_compile not in (False, None, "auto"):
        raise ValueError(f"jit_compile={jit_compile!r}: expected True, False or 'auto'")
    return False


class HorovodGradientReducer:
    """Averages gradients over all Horovod ranks: ``reducer(grads) -> grads`` (same order and dtypes).

    Uses one `hvd.grouped_allreduce(op=hvd.Average)` per gradient dtype (Horovod groups must share a
    dtype), so all layers' gradients travel in a few fused messages. ``None`` gradients (variables the
    loss does not touch) stay None.

    Args:
        compression: ``"none"`` or ``"fp16"`` (float gradients are sent as float16 and cast back, halving
            all-reduce traffic; the returned gradients keep their dtype).
    """

    def __init__(self, compression="none"):
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression={compression!r}: expected one of {COMPRESSIONS}")
        self.compression = compression

    def __call__(self, gradients):
        hvd = _hvd()
        import tensorflow as tf

        compression = hvd.Compression.fp16 if self.compression == "fp16" else hvd.Compression.none
        gradients = list(gradients)
        groups = {}
        for index, grad in enumerate(gradients):
            if grad is None:
                continue
            if isinstance(grad, tf.IndexedSlices):
                grad = tf.convert_to_tensor(grad)
            gradients[index] = grad
            groups.setdefault(grad.dtype, []).append(index)
        for dtype, indices in sorted(groups.items(), key=lambda item: item[0].name):
            reduced = hvd.grouped_allreduce(
                [gradients[i] for i in indices],
                op=hvd.Average,
                compression=compression,
                name=f"gradients_{dtype.name}",
            )
            for i, grad in zip(indices, reduced):
                gradients[i] = grad
        return gradients

    def get_config(self):
        return {"compression": self.compression}

    def __repr__(self):
        return f"HorovodGradientReducer(compression={self.compression!r})"


def _tf_variables(variables):
    """Keras 3 variables -> their backing `tf.Variable`s (what Horovod's broadcast assigns to)."""
    return [v.value if isinstance(v, keras.Variable) else v for v in variables]


class BroadcastGlobalVariablesCallback(keras.callbacks.Callback):
    """Copies rank ``root_rank``'s model and optimizer variables to every rank before the first step.

    Builds the optimizer first (``optimizer.build(model.trainable_variables)``) so its slots and
    iteration counter are broadcast too (what resuming from a checkpoint needs). If the model is not yet
    built at train start, the broadcast happens after the first batch instead.
    """

    def __init__(self, root_rank=0):
        super().__init__()
        self.root_rank = root_rank
        self.broadcast_done = False

    def _broadcast(self):
        hvd = _hvd()
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        variables = list(self.model.variables)
        if optimizer is not None:
            variables += list(optimizer.variables)
        hvd.broadcast_variables(_tf_variables(variables), root_rank=self.root_rank)
        self.broadcast_done = True

    def on_train_begin(self, logs=None):
        if self.model.built and self.model.variables:
            self._broadcast()

    def on_train_batch_end(self, batch, logs=None):
        if not self.broadcast_done:
            self._broadcast()


class SyncNonTrainableVariablesCallback(keras.callbacks.Callback):
    """Averages the model's floating-point non-trainable variables (BatchNorm moving mean/variance) over
    ranks at each epoch end. Place it before checkpoint callbacks."""

    def _average(self):
        hvd = _hvd()
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
        hvd = _hvd()
        import tensorflow as tf

        local = {k for k, v in logs.items() if np.ndim(v) == 0 and np.asarray(v).dtype.kind in "fiu"}
        keys = sorted(set.intersection(*map(set, hvd.allgather_object(sorted(local)))))
        if not keys:
            return
        values = tf.constant([float(np.asarray(logs[k])) for k in keys], dtype=tf.float64)
        averaged = hvd.allreduce(values, op=hvd.Average, name="metric_average").numpy()
        for key, value in zip(keys, averaged):
            logs[key] = float(value)


def chief_only(callbacks, is_chief):
    """``callbacks`` on the chief (rank 0), an empty list elsewhere: for checkpoints, TensorBoard,
    profiler, performance summary and other writers that must run once per job."""
    return list(callbacks) if is_chief else []


def chief_verbose(verbose, is_chief):
    """``verbose`` for `model.fit` on the chief, 0 (no progress bar) on other ranks."""
    return verbose if is_chief else 0


def horovod_callbacks(root_rank=0, average_metrics=True, sync_non_trainable=True):
    """The Horovod callbacks in the order they must precede every other callback:
    broadcast, non-trainable averaging, metric averaging."""
    callbacks = [BroadcastGlobalVariablesCallback(root_rank=root_rank)]
    if sync_non_trainable:
        callbacks.append(SyncNonTrainableVariablesCallback())
    if average_metrics:
        callbacks.append(MetricAverageCallback())
    return callbacks
