"""Horovod on the TensorFlow backend, for Keras 3 `model.fit` over `horovod.tensorflow` (``horovod.tensorflow.keras``
needs Keras 2): the import with its install hint, the gradient reducer `CenterNet.train_step` calls, and the XLA
policy. The callbacks (broadcast, BatchNorm and metric averaging) are in `keras_centernet.callbacks.horovod`; rank-0
gating and the `Runtime` in `keras_centernet.distribution`.

- `HorovodGradientReducer`: set as ``model.gradient_reducer``; `CenterNet.train_step` calls it on the
  gradients after the tape and before ``optimizer.apply`` (all-reduce, average, optional fp16 wire format).
- `horovod_jit_compile(jit_compile)`: XLA cannot wrap Horovod's collective ops; resolves to False.
- `any_rank(*flags)`: the ranks agree on flags (a SIGTERM on any rank stops all at the same step).

Horovod is imported lazily, so this module imports without it.
"""

COMPRESSIONS = ("none", "fp16")


def import_horovod():
    """`horovod.tensorflow`, or a RuntimeError with the install command."""
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
        hvd = import_horovod()
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


def any_rank(*flags):
    """The logical OR over every Horovod rank of each of `flags` (bools), as a tuple: one all-reduce (Max) that
    every rank must make at the same point (e.g. after each step: `callbacks.preemption.PreemptionGuard`)."""
    import numpy as np
    import tensorflow as tf

    hvd = import_horovod()
    values = hvd.allreduce(tf.constant(np.array(flags, np.float32)), op=hvd.Max, name="any_rank_flags")
    return tuple(bool(value > 0) for value in values.numpy())
