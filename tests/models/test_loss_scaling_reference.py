"""Loss scaling in the TensorFlow `CenterNet.train_step` under mixed_float16, against hand-written references
(issue 10; the underflow premise made independent of the processor's fp16 arithmetic for issue 18).

Adam is invariant to a constant gradient factor, so a dropped `optimizer.scale_loss` or gradients applied without
unscaling would go unseen with it. One plain `keras.optimizers.SGD` step (no momentum: delta = -lr g) of `fit`
with a LossScaleOptimizer at initial scale S is compared with:

1. the same step written out by hand on the same mixed_float16 model: tape on `compute_loss * S`, gradients
   divided by S, w - lr g. Same fp16 arithmetic, power-of-two scaling: agreement to ~2e-4 of the change (bound
   1e-3; graph versus eager execution is the only difference).
2. the same step in float32 (tape on `compute_loss`, w - lr g), which knows nothing of loss scaling. fp16 keeps 11
   significant bits (rounding 2**-11 ~ 5e-4 per activation); the head kernels' gradients are a single product of
   activations and output gradients and land within ~3e-3 (bound 1e-2). The backbone and neck gradients are sums in
   which most terms cancel (their norm is ~100x below the sum of the terms' magnitudes), which amplifies the same
   rounding to ~0.15 at this seed (bound 0.3; 0.14-0.15 on the x86 processors measured, AVX512-FP16 among
   them). A missing unscale is off by S, a lost scale by 1 / S.

The underflow premise holds by construction, not by a measurement on one processor. Every gradient that reaches
the fp16 part of the graph enters it where each head casts its 3x3 conv's fp16 features to float32 for its 1x1
output conv (which computes in float32); its float32 value there is the output gradient times the 1x1 kernel. The
fixture measures its largest magnitude M for the loss at unit weight (heatmap 1, size 0.1, offset 1; M ~ 0.26)
and weights the three losses by the largest power of two w <= 2**-26 / M (2**-25 ~ 3e-8 here; learning rate
10 / w, the same step). Without loss scaling every gradient entering fp16 is then below 2**-25, half the
smallest fp16 subnormal 2**-24 ~ 6e-8, with a margin of 2 or more for the fp16 forward pass and float32
rounding; the float32 -> float16 conversion gives exactly 0 for it whatever the processor (round to nearest even
or flush to zero), and zeros stay zeros down to the input. So without loss scaling every update outside the three
1x1 output convs is exactly 0 (checked below, the bound re-measured on the fp16 model), and a step that skips loss
scaling leaves the backbone, neck and head convs unchanged (relative error exactly 1 against float32, bound
0.3): caught as surely as one that scales and forgets to unscale.

S is 2**26, not Keras's default initial 2**15 (the test passes its own LossScaleOptimizer; that compile wraps the
optimizer by itself is tested in test_centernet.py and test_learning.py). The gradients at the casts span ~2**18
(median ~2**-8.5 of the max): with the max below 2**-25, a 2**15 scale leaves the max below 2**-10 and the bulk
in fp16's subnormals, and the scaled step is O(1) off float32 (measured: heads 0.99, body 1.4). Scaled by 2**26,
the max lands in (2**-1, 1], as the old 1e-4 weight times 2**15 did (0.86): the same precision as before, and far
from overflow (largest scaled weight gradient ~0.5, fp16 max 65504; an overflow would halve the dynamic scale,
which test 1 rules out).

BatchNorm layers are frozen (moving statistics), as with batch statistics over 2 images at 1x1 spatial size
(C5 of a 32 px image) BatchNorm turns fp16 rounding into O(1) gradient differences. float16 is slow on CPUs
(emulated or not): 32 px images, the tiny backbone and one step.
"""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

pytestmark = [pytest.mark.tensorflow]

IMAGE_SIZE = 32
HEADS = ("heatmap", "size", "offset")
UNIT_WEIGHTS = {"heatmap": 1.0, "size": 0.1, "offset": 1.0}  # CenterNet's defaults, scaled together by the weight
FP16_ROUNDS_TO_ZERO = 2.0**-25  # |x| <= half the smallest fp16 subnormal (2**-24) converts to exactly 0
MARGIN = 2.0
LOSS_SCALE = 2.0**26  # the LossScaleOptimizer's initial (dynamic) scale, see the module docstring
STEP_SIZE = 10.0  # learning rate = STEP_SIZE / loss weight: the same step for any weight
HEAD_RTOL = 1e-2
BODY_RTOL = 0.3
SAME_ARITHMETIC_RTOL = 1e-3


def _batch():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 255.0, size=(2, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    boxes = np.array([[[2, 3, 20, 18], [14, 12, 30, 31]], [[4, 4, 28, 28], [-1, -1, -1, -1]]], "float32")
    labels = np.array([[0, 1], [2, -1]], "int32")
    return images, {"boxes": boxes, "labels": labels}


def _model(policy, loss_weight, initial=None):
    import keras_centernet.models.centernet as centernet

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = centernet.CenterNet(3, backbone="tiny", neck="deconv", head_channels=8)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    optimizer = keras.optimizers.SGD(STEP_SIZE / loss_weight)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=LOSS_SCALE)
    model.compile(
        optimizer=optimizer,
        **{f"{head}_loss_weight": weight * loss_weight for head, weight in UNIT_WEIGHTS.items()},
        jit_compile=False,
    )
    if initial is not None:
        for v in model.trainable_variables:
            v.assign(initial[v.path])
    return model


def _boundary_gradient_max(model, images, targets):
    """max |d compute_loss / d x| over the heads' fp16 features x where each head casts them to float32 for its
    1x1 output conv (float32): the output gradient times the 1x1 kernel, in float64."""
    import tensorflow as tf

    outputs = model(images, training=True)
    with tf.GradientTape() as tape:
        tape.watch(list(outputs.values()))
        loss = model.compute_loss(images, targets, outputs, training=True)
    output_gradients = tape.gradient(loss, outputs)
    largest = 0.0
    for head in HEADS:
        kernel = np.asarray(model.get_layer(f"{head}_head").output_conv.kernel.numpy(), "float64")[0, 0]
        features_gradient = np.asarray(output_gradients[head], "float64") @ kernel.T
        largest = max(largest, float(np.max(np.abs(features_gradient))))
    return largest


def _hand_step(model, images, targets, scale, learning_rate):
    """-lr * d(compute_loss * scale)/dw / scale for every trainable variable, by tape."""
    import tensorflow as tf

    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = model.compute_loss(images, targets, model(images, training=True), training=True)
        scaled = loss * scale
    gradients = tape.gradient(scaled, [v.value for v in variables])
    return {v.path: -learning_rate * np.asarray(g, "float64") / scale for v, g in zip(variables, gradients)}


def _relative_error(delta, reference):
    return float(np.linalg.norm(delta - reference) / np.linalg.norm(reference))


def _is_head(path):
    return path.split("/")[0].endswith("_head")


def _is_float32_layer(path):
    """The heads' 1x1 output convs compute in float32 under any policy: their gradients never pass through fp16."""
    return _is_head(path) and path.split("/")[1] == "output_conv"


@pytest.fixture(scope="module")
def steps():
    images, targets = _batch()
    unit = _model("float32", 1.0)
    unit_max = _boundary_gradient_max(unit, images, targets)
    loss_weight = 2.0 ** math.floor(math.log2(FP16_ROUNDS_TO_ZERO / MARGIN / unit_max))
    learning_rate = STEP_SIZE / loss_weight

    model32 = _model("float32", loss_weight)
    initial = {v.path: v.numpy().copy() for v in model32.trainable_variables}
    float32_step = _hand_step(model32, images, targets, 1.0, learning_rate)

    hand16 = _model("mixed_float16", loss_weight, initial)
    fp16_boundary_max = _boundary_gradient_max(hand16, images, targets)
    scaled_step = _hand_step(hand16, images, targets, LOSS_SCALE, learning_rate)
    unscaled_step = _hand_step(hand16, images, targets, 1.0, learning_rate)

    model16 = _model("mixed_float16", loss_weight, initial)
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
        "loss_weight": loss_weight,
        "fp16_boundary_max": fp16_boundary_max,
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


def test_unscaled_fp16_gradients_underflow_to_exactly_zero(steps):
    """The premise that makes the float32 comparison catch a step without any loss scaling, by construction: every
    gradient that enters fp16 is at most 2**-25 (re-measured here on the fp16 model) and so converts to exactly 0 on
    any IEEE processor; hence without loss scaling every update outside the float32 output convs is exactly 0,
    while the float32 and the loss-scaled fp16 updates are not."""
    assert steps["fp16_boundary_max"] < FP16_ROUNDS_TO_ZERO, (steps["fp16_boundary_max"], steps["loss_weight"])
    through_fp16 = [path for path in steps["float32"] if not _is_float32_layer(path)]
    assert any(p.startswith("tiny_") for p in through_fp16) and any(p.startswith("neck/") for p in through_fp16)
    assert any(p.endswith("_head/conv/kernel") for p in through_fp16)
    nonzero = {path: float(np.max(np.abs(steps["unscaled16"][path]))) for path in through_fp16}
    assert not any(nonzero.values()), {path: v for path, v in nonzero.items() if v}
    for path in through_fp16:
        assert np.any(steps["float32"][path]) and np.any(steps["scaled16"][path]), path
