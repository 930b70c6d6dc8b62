"""Loss scaling in the TensorFlow `CenterNet.train_step` under mixed_float16, against hand-written references
(issue 10).

Adam is invariant to a constant gradient factor, so a dropped `optimizer.scale_loss` or gradients applied without
unscaling would go unseen with it. One plain `keras.optimizers.SGD` step (no momentum: delta = -lr g) of `fit`
is compared with:

1. the same step written out by hand on the same mixed_float16 model: tape on `compute_loss * 2**15`, gradients
   divided by 2**15, w - lr g. Same fp16 arithmetic, power-of-two scaling: agreement to ~1e-4 of the change.
2. the same step in float32 (tape on `compute_loss`, w - lr g), which knows nothing of loss scaling. fp16 keeps 11
   significant bits (rounding 2**-11 ~ 5e-4 per activation); the head kernels' gradients are a single product of
   activations and output gradients and land within ~4e-3 (bound 1e-2). The backbone and neck gradients are sums in
   which most terms cancel (their norm is ~100x below the sum of the terms' magnitudes), which amplifies the same
   rounding to ~0.14 at this seed (bound 0.3). A missing unscale is off by 2**15 = 32768, a lost scale by 1 / 32768.

The losses are weighted by 1e-4 (and the learning rate raised by 1e4, the same step): the total loss is ~3e-4, so
gradients that flow through fp16 activations WITHOUT loss scaling underflow fp16 (smallest subnormal ~6e-8) and
the backbone, neck and head-conv updates come out wrong (checked below), while scaled by 2**15 they are safe. So a
step that skips loss scaling altogether is caught too, not only one that scales and forgets to unscale.

BatchNorm layers are frozen (moving statistics), as with batch statistics over 2 images at 1x1 spatial size
(C5 of a 32 px image) BatchNorm turns fp16 rounding into O(1) gradient differences. TensorFlow emulates float16
on CPUs: 32 px images, the tiny backbone and one step.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

pytestmark = [pytest.mark.tensorflow]

IMAGE_SIZE = 32
LOSS_WEIGHT = 1e-4
LEARNING_RATE = 10.0 / LOSS_WEIGHT
LOSS_SCALE = 2.0**15  # LossScaleOptimizer's initial (dynamic) scale
HEAD_RTOL = 1e-2
BODY_RTOL = 0.3
SAME_ARITHMETIC_RTOL = 1e-3


def _batch():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 255.0, size=(2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    boxes = np.array([[[2, 3, 20, 18], [14, 12, 30, 31]], [[4, 4, 28, 28], [-1, -1, -1, -1]]], "float32")
    labels = np.array([[0, 1], [2, -1]], "int32")
    return images, {"boxes": boxes, "labels": labels}


def _model(policy, initial=None):
    import keras_centernet.models.centernet as centernet

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = centernet.CenterNet(3, backbone="tiny", neck="deconv", head_channels=8)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE),
        heatmap_loss_weight=LOSS_WEIGHT,
        size_loss_weight=0.1 * LOSS_WEIGHT,
        offset_loss_weight=LOSS_WEIGHT,
        jit_compile=False,
    )
    if initial is not None:
        for v in model.trainable_variables:
            v.assign(initial[v.path])
    return model


def _hand_step(model, images, targets, scale):
    """-lr * d(compute_loss * scale)/dw / scale for every trainable variable, by tape."""
    import tensorflow as tf

    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = model.compute_loss(images, targets, model(images, training=True), training=True)
        scaled = loss * scale
    gradients = tape.gradient(scaled, [v.value for v in variables])
    return {v.path: -LEARNING_RATE * np.asarray(g, "float64") / scale for v, g in zip(variables, gradients)}


def _relative_error(delta, reference):
    return float(np.linalg.norm(delta - reference) / np.linalg.norm(reference))


def _is_head(path):
    return path.split("/")[0].endswith("_head")


@pytest.fixture(scope="module")
def steps():
    images, targets = _batch()
    model32 = _model("float32")
    initial = {v.path: v.numpy().copy() for v in model32.trainable_variables}
    float32_step = _hand_step(model32, images, targets, 1.0)

    hand16 = _model("mixed_float16", initial)
    scaled_step = _hand_step(hand16, images, targets, LOSS_SCALE)
    unscaled_step = _hand_step(hand16, images, targets, 1.0)

    model16 = _model("mixed_float16", initial)
    assert isinstance(model16.optimizer, keras.optimizers.LossScaleOptimizer)
    model16.fit(images, targets, batch_size=2, epochs=1, shuffle=False, verbose=0)
    applied = int(model16.optimizer.iterations.numpy())
    scale_after = getattr(model16.optimizer, "dynamic_scale", None)  # None if the LossScaleOptimizer never ran
    scale_after = None if scale_after is None else float(scale_after.numpy())
    keras.mixed_precision.set_global_policy("float32")
    fit_step = {v.path: np.asarray(v.numpy(), "float64") - initial[v.path] for v in model16.trainable_variables}
    return {
        "fit": fit_step,
        "float32": float32_step,
        "scaled16": scaled_step,
        "unscaled16": unscaled_step,
        "applied": applied,
        "scale_after": scale_after,
    }


def test_mixed_float16_step_equals_hand_written_loss_scaled_step(steps):
    errors = {path: _relative_error(steps["fit"][path], want) for path, want in steps["scaled16"].items()}
    assert max(errors.values()) < SAME_ARITHMETIC_RTOL, sorted(errors.items(), key=lambda kv: -kv[1])[:5]
    # The step went through the LossScaleOptimizer (finite scaled gradients) at the initial scale.
    assert steps["applied"] == 1 and steps["scale_after"] == LOSS_SCALE


def test_mixed_float16_step_equals_float32_step(steps):
    errors = {path: _relative_error(steps["fit"][path], want) for path, want in steps["float32"].items()}
    heads = {path: e for path, e in errors.items() if _is_head(path)}
    body = {path: e for path, e in errors.items() if not _is_head(path)}
    assert heads and body
    assert max(heads.values()) < HEAD_RTOL, sorted(heads.items(), key=lambda kv: -kv[1])[:5]
    assert max(body.values()) < BODY_RTOL, sorted(body.items(), key=lambda kv: -kv[1])[:5]


def test_the_loss_is_small_enough_that_unscaled_fp16_gradients_underflow(steps):
    """The premise that makes the float32 comparison catch a step without any loss scaling: fp16 gradients of the
    unscaled loss lose most of the backbone's update (the scaled ones do not, see the test above)."""
    lost = {
        path: _relative_error(steps["unscaled16"][path], want)
        for path, want in steps["float32"].items()
        if path.startswith("tiny_") or path.startswith("neck/")
    }
    assert min(lost.values()) > 3 * BODY_RTOL, sorted(lost.items(), key=lambda kv: kv[1])[:5]
