"""`train(...)`: the whole training job behind `keras-centernet train` and examples/train_coco.py.

One function wires the pieces together: distribution (Horovod / MirroredStrategy / one device), precision, the tf.data
pipeline, the CenterNet model, the learning-rate schedule (x0.1 drops at 64% and 86% of training, as 90k and 120k of
the recipe's 140k steps), optional fine-tuning, and the callbacks (resume after interruption, checkpoints, COCO eval,
performance summary, profiler). Everything a run writes goes under `model_dir`:

    model_dir/model.keras               final model (chief)
    model_dir/checkpoints/epoch_NNN.keras  one per epoch (chief); best_val_AP.keras with --eval_every
    model_dir/backup/rank_N/            BackupAndRestore state: rerunning the same command resumes
    model_dir/logs/                     TensorBoard scalars when tensorboard is installed; profile/ traces
    model_dir/summary/summary.json      throughput and end-to-end time (use_performance)
    model_dir/history.json              per-epoch logs
"""

import json
import math
import os

import keras

LR_DROPS = (0.64, 0.86)  # fractions of training where the learning rate drops x0.1 (90k / 120k of 140k)


def precision_policy(use_amp, amp_dtype="auto", use_gpu=True):
    """The Keras dtype policy name: float32, or mixed_float16 (GPUs, MLUs: loss scaling) / mixed_bfloat16 (CPUs,
    TPUs, Hopper) for use_amp. amp_dtype "auto" picks float16 when a GPU is visible, else bfloat16."""
    if not use_amp:
        return "float32"
    if amp_dtype in ("float16", "bfloat16"):
        return f"mixed_{amp_dtype}"
    if amp_dtype != "auto":
        raise ValueError(f"amp_dtype={amp_dtype!r}: expected auto, float16 or bfloat16")
    from keras_centernet.distribution import num_accelerators

    return "mixed_float16" if use_gpu and num_accelerators() > 0 else "mixed_bfloat16"


def count_records(file_pattern):
    """Number of records in the shards matching `file_pattern` (reads them once; pass steps_per_epoch to skip)."""
    import tensorflow as tf

    files = tf.io.gfile.glob(file_pattern)
    if not files:
        raise FileNotFoundError(f"no TFRecord shards match {file_pattern!r}")
    return int(tf.data.TFRecordDataset(files).reduce(0, lambda count, _: count + 1).numpy())


def plan_steps(num_train_steps, epochs, steps_per_epoch, num_train_images, global_batch_size):
    """(epochs, steps_per_epoch, total_steps) from the user's choice: a total step count (num_train_steps > 0)
    split into epochs of steps_per_epoch, or whole epochs over the training set."""
    if num_train_steps and num_train_steps > 0:
        steps_per_epoch = int(steps_per_epoch or min(num_train_steps, 1000))
        epochs = math.ceil(num_train_steps / steps_per_epoch)
        return epochs, steps_per_epoch, int(num_train_steps)
    if not epochs or epochs < 1:
        raise ValueError("set --num_train_steps > 0 or --epochs >= 1")
    if not steps_per_epoch:
        steps_per_epoch = num_train_images // global_batch_size
        if steps_per_epoch < 1:
            raise ValueError(
                f"the training set has {num_train_images} images, fewer than one global batch of {global_batch_size}"
            )
    return int(epochs), int(steps_per_epoch), int(epochs) * int(steps_per_epoch)


def _class_map(data_dir):
    from keras_centernet.data import layout
    from keras_centernet.data.label_map import read_label_map

    path = layout.label_map_path(data_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--data_dir {data_dir!r} has no label map {layout.LABEL_MAP_FILENAME}")
    categories = read_label_map(path)
    return list(categories), list(categories.values())


def train(
    data_dir,
    model_dir,
    *,
    backbone="resnet101",
    neck="fpn",
    backbone_weights=None,
    image_size=512,
    batch_size=16,
    num_train_steps=0,
    epochs=1,
    steps_per_epoch=None,
    learning_rate=1e-3,
    warmup_steps=0,
    max_boxes=128,
    fine_tune_ckpt=None,
    use_amp=False,
    amp_dtype="auto",
    use_horovod=False,
    fp16_allreduce=False,
    use_gpu=True,
    use_xla=False,
    use_profiler=False,
    profile_batch=(10, 20),
    use_performance=False,
    performance_warmup_steps=10,
    eval_every=0,
    eval_batch_size=None,
    seed=None,
    verbose=1,
):
    """Trains a CenterNet on the converted dataset in `data_dir` and writes everything under `model_dir`.

    `batch_size` is per device (global batch = batch_size x devices); `learning_rate` is the single-device rate,
    scaled linearly by the number of Horovod ranks with a linear warm-up of `warmup_steps`. Returns the fitted
    model and its history dict. Rerunning the same call after an interruption resumes from the last epoch.
    """
    from keras_centernet.distribution import setup_distribution

    runtime = setup_distribution("horovod" if use_horovod else "auto", use_gpu=use_gpu)
    from keras_centernet.callbacks.horovod import (
        HorovodGradientReducer,
        chief_only,
        chief_verbose,
        horovod_callbacks,
        horovod_jit_compile,
    )
    from keras_centernet.callbacks.profiler import make_profiler_callback, tensorboard_available
    from keras_centernet.data import layout
    from keras_centernet.data.pipeline import build_dataset
    from keras_centernet.models.centernet import CenterNet
    from keras_centernet.models.weights import load_matching_weights
    from keras_centernet.schedules import make_learning_rate_schedule

    policy = precision_policy(use_amp, amp_dtype, use_gpu)
    keras.mixed_precision.set_global_policy(policy)
    if seed is not None:
        keras.utils.set_random_seed(int(seed) + runtime.rank)
    say = print if runtime.is_chief and verbose else (lambda *a, **k: None)

    class_ids, class_names = _class_map(data_dir)
    train_pattern = layout.record_file_pattern(data_dir, "train")
    global_batch = runtime.global_batch_size(batch_size)
    num_images = 0 if (num_train_steps or steps_per_epoch) else count_records(train_pattern)
    epochs, steps_per_epoch, total_steps = plan_steps(
        num_train_steps, epochs, steps_per_epoch, num_images, global_batch
    )
    say(
        f"train: {runtime.strategy_name} on {runtime.num_devices} device(s), {policy}, global batch {global_batch}, "
        f"{epochs} epoch(s) x {steps_per_epoch} steps = {total_steps} steps, {len(class_ids)} classes"
    )
    train_data = build_dataset(
        train_pattern,
        training=True,
        batch_size=runtime.process_batch_size(batch_size),
        image_size=image_size,
        max_boxes=max_boxes,
        shard=runtime.shard,
        seed=seed,
        repeat=True,
    )

    with runtime.scope():
        model = CenterNet(
            len(class_ids),
            backbone=backbone,
            neck=neck,
            backbone_weights=backbone_weights,
            class_ids=class_ids,
            class_names=class_names,
        )
        if fine_tune_ckpt:
            load_matching_weights(model, fine_tune_ckpt, print_fn=say)
        boundaries = [int(total_steps * fraction) for fraction in LR_DROPS]
        schedule = make_learning_rate_schedule(learning_rate, runtime.size, boundaries, 0.1, warmup_steps)
        jit_compile = horovod_jit_compile(use_xla or "auto") if runtime.use_horovod else bool(use_xla)
        model.compile(keras.optimizers.Adam(schedule), jit_compile=jit_compile)
    if runtime.use_horovod:
        model.gradient_reducer = HorovodGradientReducer("fp16" if fp16_allreduce else "none")

    callbacks = list(horovod_callbacks()) if runtime.use_horovod else []
    backup_dir = os.path.join(model_dir, "backup", f"rank_{runtime.rank}")
    callbacks.append(keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False))
    if eval_every and eval_every > 0:
        from keras_centernet.callbacks.coco_eval import CocoEvalCallback
        from keras_centernet.evaluation.ground_truth import ground_truth_from_tfrecords

        val_pattern = layout.record_file_pattern(data_dir, "val")
        val_data = build_dataset(
            val_pattern,
            training=False,
            batch_size=eval_batch_size or runtime.process_batch_size(batch_size),
            image_size=image_size,
            max_boxes=max_boxes,
        )
        # Ground truth from the records themselves: original pixels, crowd regions, no max_boxes cut.
        ground_truth = ground_truth_from_tfrecords(val_pattern) if runtime.is_chief else None
        callbacks.append(
            CocoEvalCallback(
                val_data, ground_truth=ground_truth, every_n_epochs=eval_every, is_chief=runtime, verbose=verbose
            )
        )
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    writers = [keras.callbacks.ModelCheckpoint(os.path.join(checkpoint_dir, "epoch_{epoch:03d}.keras"))]
    if eval_every and eval_every > 0:
        writers.append(
            keras.callbacks.ModelCheckpoint(
                os.path.join(checkpoint_dir, "best_val_AP.keras"), monitor="val_AP", mode="max", save_best_only=True
            )
        )
    log_dir = os.path.join(model_dir, "logs")
    if tensorboard_available():  # one TensorBoard callback: scalars, plus the profile with use_profiler
        writers.append(keras.callbacks.TensorBoard(log_dir, profile_batch=profile_batch if use_profiler else 0))
    elif use_profiler:
        writers.append(make_profiler_callback(os.path.join(log_dir, "profile"), profile_batch))
    if use_performance:
        from keras_centernet.callbacks.performance import PerformanceCallback

        callbacks.append(
            PerformanceCallback(
                batch_size,
                num_devices=runtime.num_devices,
                warmup_steps=performance_warmup_steps,
                output_dir=model_dir,
                precision=policy,
                is_chief=runtime.is_chief,
            )
        )
    callbacks.extend(chief_only(writers, runtime.is_chief))
    os.makedirs(checkpoint_dir, exist_ok=True)

    history = model.fit(
        train_data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # build_dataset shuffles
        verbose=chief_verbose(2 if verbose else 0, runtime.is_chief),
    )
    if runtime.is_chief:
        model.save(os.path.join(model_dir, "model.keras"))
        logs = {key: [float(v) for v in values] for key, values in history.history.items()}
        with open(os.path.join(model_dir, "history.json"), "w") as file:
            json.dump(logs, file, indent=1)
        say(f"train: wrote {os.path.join(model_dir, 'model.keras')}")
    return model, history.history
