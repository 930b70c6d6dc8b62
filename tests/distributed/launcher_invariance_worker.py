"""One launcher of tests/distributed/test_launcher_invariance.py: K SGD steps of a tiny CenterNet from given initial
weights on given global batches, with the learning-rate schedule `train()` builds for this launcher's runtime.

    python launcher_invariance_worker.py --launcher single --out OUT --init INIT.npz [--write_init]
    python launcher_invariance_worker.py --launcher mirrored ...              (TensorFlow, 2 logical CPU devices)
    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \\
        python launcher_invariance_worker.py --launcher data_parallel ...    (keras.distribution.DataParallel)
    horovodrun --gloo -np 2 -H localhost:2 python launcher_invariance_worker.py --launcher horovod ...

Every launcher trains on the same GLOBAL_BATCH images per step: "single" feeds them as one batch to one device,
the others as PER_DEVICE_BATCH per device (Mirrored and DataParallel split the batch, Horovod rank r reads images
[r B, (r + 1) B) of each global batch). The schedule is `make_learning_rate_schedule(LEARNING_RATE,
runtime.global_batch_size(per-device batch), lr_boundaries(STEPS), reference_batch_size=REFERENCE_BATCH)`, as in
`keras_centernet.training.train`, so a launcher whose runtime reports the wrong global batch trains at another rate.

BatchNorm layers are frozen (moving statistics, as tests/distributed/reference_worker.py explains), and every image
has exactly 2 boxes with distinct centers, so the mean of per-device losses equals the loss of the whole global batch
and the launchers must agree up to float32 summation order.

Writes OUT/LAUNCHER/rank<r>/weights.npz (trainable weights after STEPS steps, by path) and lr.json (the optimizer's
learning rate at steps 0..STEPS, the runtime's description); with --write_init, INIT.npz (all initial weights).
"""

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_SIZE = 64
PER_DEVICE_BATCH = 2
DEVICES = 2
GLOBAL_BATCH = PER_DEVICE_BATCH * DEVICES
STEPS = 3
LEARNING_RATE = 0.1  # stated for REFERENCE_BATCH images: the runs' global batch of 4 trains at 0.1 x 4 / 8 = 0.05
REFERENCE_BATCH = 8
NUM_CLASSES = 3


def global_batches(steps=STEPS, global_batch=GLOBAL_BATCH, image_size=IMAGE_SIZE, seed=7):
    """steps x global_batch random images (0..255) and targets where EVERY image has exactly 2 boxes with distinct
    center cells (max_boxes 4, padded with -1)."""
    rng = np.random.default_rng(seed)
    n, s = steps * global_batch, image_size
    images = rng.uniform(0.0, 255.0, size=(n, s, s, 3)).astype("float32")
    boxes = np.full((n, 4, 4), -1.0, "float32")
    labels = np.full((n, 4), -1, "int32")
    for i in range(n):
        d = (5 * i) % (s // 8)
        boxes[i, 0] = [2 + d, 4, s // 2 + d, s // 2 - 2]
        boxes[i, 1] = [s // 2 - 4, s // 2 + d // 2, s - 3, s - 2]
        labels[i, :2] = [i % NUM_CLASSES, (i + 1) % NUM_CLASSES]
    return images, boxes, labels


def setup_runtime(launcher):
    from keras_centernet.distribution import setup_distribution

    if launcher == "mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)
        return setup_distribution("mirrored", use_gpu=False, devices=[f"/cpu:{i}" for i in range(DEVICES)])
    if launcher == "data_parallel":
        devices = keras.distribution.list_devices("cpu")
        assert len(devices) == DEVICES, f"{devices}: set XLA_FLAGS=--xla_force_host_platform_device_count={DEVICES}"
        return setup_distribution("data_parallel", use_gpu=False, devices=devices)
    return setup_distribution(launcher, use_gpu=False)


def build_model():
    from keras_centernet.models.centernet import CenterNet

    keras.utils.set_random_seed(0)
    model = CenterNet(NUM_CLASSES, backbone="tiny", neck="deconv", head_channels=8)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return model


class RecordLearningRate(keras.callbacks.Callback):
    """The optimizer's learning rate (and iteration count) before each step and after the last one."""

    def __init__(self):
        super().__init__()
        self.rates, self.iterations = [], []

    def _record(self):
        optimizer = self.model.optimizer
        self.rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        self.iterations.append(int(keras.ops.convert_to_numpy(optimizer.iterations)))

    def on_train_batch_begin(self, batch, logs=None):
        self._record()

    def on_train_end(self, logs=None):
        self._record()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--launcher", required=True, choices=("single", "mirrored", "data_parallel", "horovod"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--init", required=True, help="npz of initial weights by variable path")
    parser.add_argument("--write_init", action="store_true", help="write --init from a seeded model first")
    args = parser.parse_args(argv)

    runtime = setup_runtime(args.launcher)
    from keras_centernet.schedules import make_learning_rate_schedule
    from keras_centernet.training import lr_boundaries

    # "single" is one device fed the whole global batch; the others get PER_DEVICE_BATCH per device.
    per_device = GLOBAL_BATCH if args.launcher == "single" else PER_DEVICE_BATCH
    global_batch = runtime.global_batch_size(per_device)
    with runtime.scope():
        model = build_model()
        if args.write_init:
            np.savez(args.init, **{v.path: np.asarray(keras.ops.convert_to_numpy(v)) for v in model.variables})
        initial = np.load(args.init)
        assert sorted(initial.files) == sorted(v.path for v in model.variables), "variables differ from --init"
        for v in model.variables:
            v.assign(initial[v.path])
        schedule = make_learning_rate_schedule(
            LEARNING_RATE, global_batch, lr_boundaries(STEPS), reference_batch_size=REFERENCE_BATCH
        )
        # train() compiles without XLA on TensorFlow; JAX runs op by op without jit (minutes), so it jits here.
        model.compile(keras.optimizers.SGD(schedule), jit_compile=keras.backend.backend() == "jax")

    images, boxes, labels = global_batches()
    callbacks = []
    if runtime.use_horovod:
        from keras_centernet.callbacks.horovod import horovod_callbacks
        from keras_centernet.horovod import HorovodGradientReducer

        model.gradient_reducer = HorovodGradientReducer("none")
        callbacks += horovod_callbacks()
        mine = np.concatenate(
            [np.arange(s * GLOBAL_BATCH, (s + 1) * GLOBAL_BATCH)[runtime.rank * per_device:][:per_device]
             for s in range(STEPS)]
        )  # fmt: skip
        images, boxes, labels = images[mine], boxes[mine], labels[mine]
    recorder = RecordLearningRate()
    callbacks.append(recorder)
    model.fit(
        images, {"boxes": boxes, "labels": labels}, batch_size=runtime.process_batch_size(per_device), epochs=1,
        shuffle=False, callbacks=callbacks, verbose=0,
    )  # fmt: skip

    out = os.path.join(args.out, args.launcher, f"rank{runtime.rank}")
    os.makedirs(out, exist_ok=True)
    np.savez(
        os.path.join(out, "weights.npz"),
        **{v.path: np.asarray(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables},
    )
    with open(os.path.join(out, "lr.json"), "w") as f:
        json.dump(
            {
                "rates": recorder.rates,
                "iterations": recorder.iterations,
                "strategy": runtime.strategy_name,
                "num_devices": runtime.num_devices,
                "global_batch": global_batch,
                "backend": keras.backend.backend(),
            },
            f,
        )


if __name__ == "__main__":
    main()
