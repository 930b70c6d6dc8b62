"""One Horovod rank of the distributed tests; run it with
``horovodrun --gloo -np 2 -H localhost:2 python tests/distributed/horovod_worker.py --data_dir D --out O``.

For each ``--config PRECISION:COMPRESSION`` it trains a tiny CenterNet (64 px, "tiny" backbone, deconv neck)
on this rank's shard of the TFRecords with the library's Horovod pieces, the way `keras-centernet train`
wires them, and writes to ``OUT/CONFIG/rank<r>/``:

- ``weights.npz``: every model and optimizer variable after training (by path);
- ``logs.json``: the rank's own epoch logs (captured before metric averaging) and ``history.history``;
- ``checkpoint.weights.h5`` and ``summary/summary.json`` only where the rank-0 gating let it write.

Each rank starts from a different random initialization (seed + rank), so identical final weights show
that the broadcast and the gradient averaging both work.
"""

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_SIZE = 64
BATCH_SIZE = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data_dir", required=True, help="dataset folder with tfrecords/ and the label map")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", action="append", default=None, help="PRECISION:COMPRESSION, repeatable")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps_per_epoch", type=int, default=3)
    return parser.parse_args(argv)


class RecordLocalLogs(keras.callbacks.Callback):
    """Keeps this rank's own epoch logs; placed before MetricAverageCallback, so they are unaveraged."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({k: float(v) for k, v in (logs or {}).items()})


class ChiefOnlyMetric(keras.callbacks.Callback):
    """Adds a key to rank 0's epoch logs only (as a chief-only evaluation callback may)."""

    def on_epoch_end(self, epoch, logs=None):
        logs["chief_metric"] = 7.0


def train_one(runtime, precision, compression, args):
    from keras_centernet.callbacks.horovod import horovod_callbacks
    from keras_centernet.callbacks.performance import PerformanceCallback
    from keras_centernet.data import build_dataset, record_file_pattern
    from keras_centernet.distribution import chief_only, chief_verbose
    from keras_centernet.horovod import HorovodGradientReducer, horovod_jit_compile
    from keras_centernet.models.centernet import CenterNet
    from keras_centernet.schedules import make_learning_rate_schedule

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(1000 + runtime.rank)  # different init on each rank: broadcast must fix it
    model = CenterNet(3, backbone="tiny", neck="deconv", head_channels=16)
    # "off": no gradient all-reduce, the negative control (ranks must then drift apart).
    model.gradient_reducer = None if compression == "off" else HorovodGradientReducer(compression=compression)
    schedule = make_learning_rate_schedule(1e-3, runtime.global_batch_size(BATCH_SIZE), warmup_steps=2)
    model.compile(optimizer=keras.optimizers.Adam(schedule), jit_compile=horovod_jit_compile("auto"))

    dataset = build_dataset(
        record_file_pattern(args.data_dir, "train"),
        training=True,
        batch_size=BATCH_SIZE,
        image_size=IMAGE_SIZE,
        max_boxes=8,
        shard=runtime.shard,
        seed=runtime.rank,
        repeat=True,
    )
    out = os.path.join(args.out, f"{precision}-{compression}", f"rank{runtime.rank}")
    os.makedirs(out, exist_ok=True)
    local_logs = RecordLocalLogs()
    callbacks = [local_logs, *chief_only([ChiefOnlyMetric()], runtime.is_chief), *horovod_callbacks()]
    callbacks += chief_only(
        [keras.callbacks.ModelCheckpoint(os.path.join(out, "checkpoint.weights.h5"), save_weights_only=True)],
        runtime.is_chief,
    )
    callbacks.append(
        PerformanceCallback(
            BATCH_SIZE,
            num_devices=runtime.num_devices,
            warmup_steps=1,
            output_dir=out,
            is_chief=runtime.is_chief,
        )
    )
    history = model.fit(
        dataset,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        callbacks=callbacks,
        verbose=chief_verbose(0, runtime.is_chief),
    )
    arrays = {f"model/{v.path}": np.asarray(v.numpy()) for v in model.variables}
    arrays.update({f"optimizer/{v.path}": np.asarray(v.numpy()) for v in model.optimizer.variables})
    np.savez(os.path.join(out, "weights.npz"), **arrays)
    with open(os.path.join(out, "logs.json"), "w") as f:
        json.dump({"local": local_logs.epochs, "history": history.history, "size": runtime.size}, f)


def main(argv=None):
    args = parse_args(argv)
    from keras_centernet.distribution import setup_distribution

    runtime = setup_distribution("horovod", use_gpu=False)
    for config in args.config or ["float32:none"]:
        precision, compression = config.split(":")
        train_one(runtime, precision, compression, args)


if __name__ == "__main__":
    main()
