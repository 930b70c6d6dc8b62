"""One Horovod rank of the reduction reference tests (tests/distributed/test_reduction_reference.py); run it with
``horovodrun --gloo -np 2 -H localhost:2 python tests/distributed/reference_worker.py --out OUT``.

Each rank writes ``OUT/rank<r>.json`` and ``OUT/rank<r>.npz`` with what the test compares against references that
do not come from the code under test:

- ``reducer``: rank r sends tensors filled with r + 1 (float32, float16, float64, an IndexedSlices and a None)
  through `HorovodGradientReducer` (both wire formats); the mean over 2 ranks is exactly 1.5 (a sum gives 3).
- ``sync``: a tiny CenterNet's BatchNorm moving means set to r + 1 and moving variances to 2 (r + 1) on rank r,
  then `SyncNonTrainableVariablesCallback.on_epoch_end`: every value must become 1.5 and 3.0.
- ``metric``: `MetricAverageCallback` on logs {"loss": r + 1}: 1.5.
- ``sgd``: one plain SGD step of `model.fit` with the reducer, rank r training on images [r B, (r + 1) B) of
  `reference_batch(2 B)`; the npz holds the initial and final trainable weights. The test repeats the step on one
  process on all 2 B images with a hand-written SGD update (tape + `compute_loss`, w - lr g): see `sgd_reference`.

BatchNorm layers are frozen (``trainable = False``: they use their moving statistics) in the SGD step, so a
sample's gradient does not depend on which other samples share its batch, and every image has the same number
of objects, so the mean of the two ranks' losses equals the loss of the concatenated batch (both losses are
normalized by the batch's object count).
"""

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_SIZE = 64
PER_RANK_BATCH = 2
LEARNING_RATE = 0.05
NUM_CLASSES = 3
SEED = 0


def reference_batch(num_images, image_size=IMAGE_SIZE, seed=3):
    """Random images [n, s, s, 3] (0..255) and targets where EVERY image has exactly 2 boxes with distinct
    center cells (max_boxes 4, padded with -1), so any split into equal halves has equal object counts."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 255.0, size=(num_images, image_size, image_size, 3)).astype("float32")
    boxes = np.full((num_images, 4, 4), -1.0, "float32")
    labels = np.full((num_images, 4), -1, "int32")
    s = image_size
    for i in range(num_images):
        d = (3 * i) % (s // 8)
        boxes[i, 0] = [2 + d, 4, s // 2 + d, s // 2 - 2]
        boxes[i, 1] = [s // 2 - 4, s // 2 + d // 2, s - 3, s - 2]
        labels[i, :2] = [i % NUM_CLASSES, (i + 1) % NUM_CLASSES]
    return images, {"boxes": boxes, "labels": labels}


def freeze_batch_norm(model):
    """BatchNorm layers use their moving statistics in training too (Keras 3: trainable=False)."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return model


def build_model(seed=SEED):
    from keras_centernet.models.centernet import CenterNet

    keras.utils.set_random_seed(seed)
    return CenterNet(NUM_CLASSES, backbone="tiny", neck="deconv", head_channels=8)


def sgd_reference(initial, images, targets, learning_rate=LEARNING_RATE):
    """One SGD step written out by hand on ONE process: w - lr * d compute_loss(all images) / dw.

    `initial`: {variable path: array} of the trainable weights. Returns ({path: new weights}, losses) with losses
    {"loss", "heatmap_loss", "size_loss", "offset_loss"} of the whole batch."""
    import tensorflow as tf

    model = freeze_batch_norm(build_model(seed=SEED + 99))  # different init: every weight comes from `initial`
    variables = model.trainable_variables
    assert sorted(v.path for v in variables) == sorted(initial), "trainable variables differ from the worker's"
    for v in variables:
        v.assign(initial[v.path])
    with tf.GradientTape() as tape:
        y_pred = model(images, training=True)
        loss = model.compute_loss(images, targets, y_pred, training=True)
    gradients = tape.gradient(loss, [v.value for v in variables])
    updated = {v.path: initial[v.path] - learning_rate * np.asarray(g) for v, g in zip(variables, gradients)}
    losses = {"loss": float(loss)}
    for tracker in (model.heatmap_loss_tracker, model.size_loss_tracker, model.offset_loss_tracker):
        losses[tracker.name] = float(tracker.result())
    return updated, losses


def check_reducer(rank):
    import tensorflow as tf

    from keras_centernet.horovod import HorovodGradientReducer

    value = float(rank + 1)
    results = {}
    for compression in ("none", "fp16"):
        gradients = [
            tf.fill([3, 2], tf.constant(value, tf.float32)),
            None,
            tf.fill([5], tf.constant(value, tf.float16)),
            tf.fill([2, 2], tf.constant(value, tf.float64)),
            tf.IndexedSlices(tf.fill([1, 3], value), tf.constant([1]), tf.constant([2, 3])),
        ]
        reduced = HorovodGradientReducer(compression=compression)(gradients)
        results[compression] = [None if g is None else np.asarray(g).tolist() for g in reduced]
        results[compression + "_dtypes"] = [None if g is None else g.dtype.name for g in reduced]
    return results


def check_sync(rank):
    from keras_centernet.callbacks.horovod import MetricAverageCallback, SyncNonTrainableVariablesCallback

    model = build_model()  # BatchNorm live (not frozen): its moving statistics are what gets synchronized
    stats = [v for v in model.non_trainable_variables if "moving_mean" in v.path or "moving_variance" in v.path]
    assert len(stats) >= 8, [v.path for v in model.non_trainable_variables]
    for v in stats:
        factor = 1.0 if "moving_mean" in v.path else 2.0
        v.assign(np.full(v.shape, factor * (rank + 1), "float32"))
    callback = SyncNonTrainableVariablesCallback()
    callback.set_model(model)
    callback.on_epoch_end(0)
    sync = {v.path: [float(np.min(v.numpy())), float(np.max(v.numpy()))] for v in stats}
    logs = {"loss": float(rank + 1), "heatmap_loss": 10.0 * (rank + 1)}
    MetricAverageCallback().on_epoch_end(0, logs)
    return sync, logs


def sgd_step(rank):
    from keras_centernet.horovod import HorovodGradientReducer

    images, targets = reference_batch(2 * PER_RANK_BATCH)
    part = slice(rank * PER_RANK_BATCH, (rank + 1) * PER_RANK_BATCH)
    model = freeze_batch_norm(build_model())  # same seed on every rank: same initial weights (checked by the test)
    model.gradient_reducer = HorovodGradientReducer()
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), jit_compile=False)
    initial = {f"initial/{v.path}": v.numpy().copy() for v in model.trainable_variables}
    history = model.fit(
        images[part],
        {k: v[part] for k, v in targets.items()},
        batch_size=PER_RANK_BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    final = {f"final/{v.path}": v.numpy() for v in model.trainable_variables}
    return {**initial, **final}, float(history.history["loss"][0]), int(model.optimizer.iterations.numpy())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from keras_centernet.distribution import setup_distribution

    runtime = setup_distribution("horovod", use_gpu=False)
    rank = runtime.rank
    result = {"size": runtime.size, "rank": rank, "reducer": check_reducer(rank)}
    result["sync"], result["metric"] = check_sync(rank)
    arrays, result["sgd_loss"], result["sgd_iterations"] = sgd_step(rank)
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, f"rank{rank}.npz"), **arrays)
    with open(os.path.join(args.out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
