"""`train(...)`: the whole training job behind `keras-centernet train` and examples/train_coco.py.

One function wires the pieces together: distribution (Horovod / MirroredStrategy / one device), precision, the tf.data
pipeline, the CenterNet model, the learning-rate schedule (`learning_rate` is stated for a global batch of
`lr_reference_batch` images and scaled linearly to the run's global batch; x0.1 drops at `lr_boundaries`, by default
the recipe's 90k and 120k of 140k steps scaled to the run's length), optional fine-tuning, and the callbacks (resume
after interruption, checkpoints, COCO eval, performance summary, profiler). Everything a run writes goes under
`model_dir`:

    model_dir/model.keras               final model (chief)
    model_dir/checkpoints/epoch_NNN.keras  one per epoch (chief); best_val_AP.keras with --eval_every
    model_dir/backup/rank_N/            resume state (state.json -> epoch_NNN.weights.h5): rerunning resumes
    model_dir/logs/                     TensorBoard scalars when tensorboard is installed; profile/ traces
    model_dir/summary/summary.json      throughput and end-to-end time (use_performance)
    model_dir/history.json              per-epoch logs of every epoch, across resumes
    model_dir/.run.lock                 held by the live run (one run per model_dir)

Every file is written to a temporary name and renamed into place (keras_centernet.atomic_files), so `kill -9` at any
moment then the same command resumes; inputs are checked before the model is built (keras_centernet.validation).
"""

import math
import os

import keras

from keras_centernet import atomic_files
from keras_centernet.callbacks.backup import CrashSafeBackup, read_state
from keras_centernet.callbacks.checkpoint import EpochCheckpoint, save_model
from keras_centernet.callbacks.history_file import HistoryFile, read_history
from keras_centernet.callbacks.nonfinite import StopOnNonFinite
from keras_centernet.validation import (
    InputError,
    check_dir_exists,
    check_file_exists,
    check_image_size,
    check_positive,
    check_writable_dir,
)

HISTORY_FILE = "history.json"
RECIPE_STEPS = 140000
RECIPE_LR_BOUNDARIES = (90000, 120000)  # the recipe's x0.1 drops, in steps of its 140k-step run
LR_DROPS = tuple(b / RECIPE_STEPS for b in RECIPE_LR_BOUNDARIES)  # the same as fractions of a run (0.643, 0.857)


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


def plan_steps(num_train_steps, epochs, steps_per_epoch, num_train_images, global_batch_size):
    """(epochs, steps_per_epoch, total_steps) from the user's choice: a total step count (num_train_steps > 0)
    split into epochs of steps_per_epoch, or whole epochs over the training set."""
    if num_train_steps and num_train_steps > 0:
        steps_per_epoch = int(steps_per_epoch or min(num_train_steps, 1000))
        epochs = math.ceil(num_train_steps / steps_per_epoch)
        return epochs, steps_per_epoch, int(num_train_steps)
    if not epochs or epochs < 1:
        raise InputError("set --num_train_steps > 0 or --epochs >= 1")
    if not steps_per_epoch:
        steps_per_epoch = num_train_images // global_batch_size
        if steps_per_epoch < 1:
            raise InputError(
                f"the training set has {num_train_images} images, fewer than one global batch of "
                f"{global_batch_size}: lower --batch_size or set --steps_per_epoch"
            )
    return int(epochs), int(steps_per_epoch), int(epochs) * int(steps_per_epoch)


def lr_boundaries(total_steps, boundaries=None, warn=None):
    """Steps where the learning rate drops x0.1; the rate at step `b` is already the dropped one.

    `boundaries` None: the recipe's 90000 and 120000 of 140000 scaled to the run, `round(total_steps * 90000 /
    140000)` and `round(total_steps * 120000 / 140000)` (a 140k run drops at exactly 90000 and 120000), keeping
    those inside the run (0 < step < total_steps) once each, so runs of 1, 2 or 3 steps get 0, 1 or 1 drops.
    Explicit `boundaries` (increasing steps, see `schedules.parse_lr_boundaries`) are kept as given; those at or
    past the end of the run are dropped with one `warn` line each.
    """
    total_steps = int(total_steps)
    if boundaries is None:
        scaled = {round(total_steps * b / RECIPE_STEPS) for b in RECIPE_LR_BOUNDARIES}
        return sorted(step for step in scaled if 0 < step < total_steps)
    late = [int(b) for b in boundaries if int(b) >= total_steps]
    if late and warn is not None:
        warn(f"train: warning: --lr_boundaries {','.join(map(str, late))} >= the run's {total_steps} steps: "
             "no drop there")
    return [int(b) for b in boundaries if 0 < int(b) < total_steps]


_drop_steps = lr_boundaries  # train() has a parameter named lr_boundaries


def _class_map(data_dir):
    from keras_centernet.data import layout
    from keras_centernet.data.label_map import read_label_map

    path = layout.label_map_path(data_dir)
    if not os.path.isfile(path):
        raise InputError(f"--data_dir {data_dir!r} has no label map {layout.LABEL_MAP_FILENAME}: convert it first")
    categories = read_label_map(path)
    return list(categories), list(categories.values())


def _positive_or_none(value, argument):
    return None if value is None else check_positive(value, argument)


def check_training_inputs(data_dir, model_dir, image_size, batch_size, steps_per_epoch=None, fine_tune_ckpt=None,
                          eval_every=0):
    """Every argument and the data checked before anything is built; returns the number of training records.

    Raises InputError with one line naming the argument (or shard) and the rule.
    """
    from keras_centernet.data import layout
    from keras_centernet.data.split_check import check_split

    check_dir_exists(data_dir, "--data_dir")
    check_image_size(image_size, "--image_size")
    check_positive(batch_size, "--batch_size")
    _positive_or_none(steps_per_epoch, "--steps_per_epoch")
    if fine_tune_ckpt:
        check_file_exists(fine_tune_ckpt, "--fine_tune_ckpt")
    num_records = check_split(layout.record_file_pattern(data_dir, "train"), "--data_dir")
    if eval_every and eval_every > 0:
        check_split(layout.record_file_pattern(data_dir, "val"), "--eval_every (the val split)")
    check_writable_dir(model_dir, "--model_dir")
    return num_records


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
    lr_boundaries=None,
    lr_reference_batch=64,
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

    `batch_size` is per device (global batch = batch_size x devices). `learning_rate` is the Adam rate for a global
    batch of `lr_reference_batch` images; whatever the launcher (one device, MirroredStrategy, JAX DataParallel,
    Horovod) the run trains at learning_rate x global batch / lr_reference_batch, reached by a linear warm-up from 0
    over `warmup_steps`, x0.1 at each of `lr_boundaries` (steps, e.g. "90000,120000"; default: the recipe's 90k and
    120k of 140k scaled to the run's length, see `lr_boundaries`). Returns the fitted
    model and its history dict. Rerunning the same call after an interruption resumes from the last finished
    epoch; rerunning a finished run changes nothing. Raises InputError (before building anything) on bad
    arguments or data, and NonFiniteLossError when the loss or weights stop being finite.
    """
    from keras_centernet.schedules import make_learning_rate_schedule, parse_lr_boundaries, scale_lr

    boundaries = parse_lr_boundaries(lr_boundaries)
    lr_reference_batch = check_positive(lr_reference_batch, "--lr_reference_batch")
    num_records = check_training_inputs(
        data_dir, model_dir, image_size, batch_size, steps_per_epoch, fine_tune_ckpt, eval_every
    )
    from keras_centernet.distribution import setup_distribution
    from keras_centernet.run_lock import RunLock

    runtime = setup_distribution("horovod" if use_horovod else "auto", use_gpu=use_gpu)
    from keras_centernet.callbacks.horovod import (
        HorovodGradientReducer,
        chief_only,
        chief_verbose,
        horovod_callbacks,
        horovod_jit_compile,
    )
    from keras_centernet.data import layout
    from keras_centernet.data.pipeline import build_dataset
    from keras_centernet.models.centernet import CenterNet
    from keras_centernet.models.weights import load_matching_weights

    lock = RunLock(model_dir).acquire() if runtime.is_chief else None
    try:
        policy = precision_policy(use_amp, amp_dtype, use_gpu)
        keras.mixed_precision.set_global_policy(policy)
        if seed is not None:
            keras.utils.set_random_seed(int(seed) + runtime.rank)
        say = print if runtime.is_chief and verbose else (lambda *a, **k: None)
        class_ids, class_names = _class_map(data_dir)
        global_batch = runtime.global_batch_size(batch_size)
        epochs, steps_per_epoch, total_steps = plan_steps(
            num_train_steps, epochs, steps_per_epoch, num_records, global_batch
        )
        late_boundaries = []  # warned about after the first line
        drops = _drop_steps(total_steps, boundaries, warn=late_boundaries.append)
        peak = scale_lr(learning_rate, global_batch, lr_reference_batch)
        say(
            f"train: {runtime.strategy_name} on {runtime.num_devices} device(s), {policy}, global batch "
            f"{global_batch}, {epochs} epoch(s) x {steps_per_epoch} steps = {total_steps} steps, "
            f"{len(class_ids)} classes, {num_records} training images, learning rate {peak:.6g} "
            f"(= {learning_rate:g} x {global_batch} / {lr_reference_batch}), x0.1 at steps "
            f"{','.join(map(str, drops)) or 'none'}"
        )
        for line in late_boundaries:
            say(line)
        if warmup_steps and warmup_steps >= total_steps:
            say(f"train: warning: --warmup_steps {warmup_steps} >= the run's {total_steps} steps: the learning rate "
                "never reaches its peak")
        backup = CrashSafeBackup(os.path.join(model_dir, "backup", f"rank_{runtime.rank}"))
        if runtime.is_chief:
            for folder in (model_dir, os.path.join(model_dir, "checkpoints"), os.path.join(model_dir, "summary")):
                atomic_files.remove_stale_temporaries(folder)  # what a killed run was writing
        # The chief's backup decides for every rank (a kill between two ranks' saves leaves them an epoch apart);
        # BroadcastGlobalVariablesCallback then gives every rank the chief's weights and optimizer state.
        if runtime.from_chief(finished_run(model_dir, backup, epochs)):
            say(f"train: {model_dir} already finished its {epochs} epoch(s) (model.keras): nothing to do; raise "
                "--epochs or --num_train_steps to train longer, or use a new --model_dir")
            return keras.saving.load_model(os.path.join(model_dir, "model.keras")), read_history(
                os.path.join(model_dir, HISTORY_FILE))
        train_data = build_dataset(
            layout.record_file_pattern(data_dir, "train"), training=True,
            batch_size=runtime.process_batch_size(batch_size), image_size=image_size, max_boxes=max_boxes,
            shard=runtime.shard, seed=seed, repeat=True,
        )  # fmt: skip
        with runtime.scope():
            model = CenterNet(
                len(class_ids), backbone=backbone, neck=neck, backbone_weights=backbone_weights,
                class_ids=class_ids, class_names=class_names,
            )  # fmt: skip
            if fine_tune_ckpt:
                load_matching_weights(model, fine_tune_ckpt, print_fn=say)
            schedule = make_learning_rate_schedule(
                learning_rate, global_batch, drops, 0.1, warmup_steps, reference_batch_size=lr_reference_batch
            )
            jit_compile = horovod_jit_compile(use_xla or "auto") if runtime.use_horovod else bool(use_xla)
            model.compile(keras.optimizers.Adam(schedule), jit_compile=jit_compile)
            initial_epoch = runtime.from_chief(backup.restore(model))
        if runtime.use_horovod:
            model.gradient_reducer = HorovodGradientReducer("fp16" if fp16_allreduce else "none")
        if initial_epoch:
            say(f"train: resuming after epoch {initial_epoch} from {backup.backup_dir}")
        # Order matters: the guard raises before anything saves; the backup comes last, so a kill between the
        # epoch's writes redoes that epoch (history.json and checkpoints are rewritten) instead of skipping it.
        callbacks = [StopOnNonFinite(initial_epoch * steps_per_epoch)]
        callbacks += list(horovod_callbacks()) if runtime.use_horovod else []
        if eval_every and eval_every > 0:
            callbacks.append(_coco_eval_callback(
                data_dir, runtime, eval_batch_size or runtime.process_batch_size(batch_size), image_size, max_boxes,
                eval_every, verbose,
            ))  # fmt: skip
        if use_performance:
            from keras_centernet.callbacks.performance import PerformanceCallback

            callbacks.append(PerformanceCallback(
                batch_size, num_devices=runtime.num_devices, warmup_steps=performance_warmup_steps,
                output_dir=model_dir, precision=policy, is_chief=runtime.is_chief,
            ))  # fmt: skip
        writers = _chief_writers(model_dir, initial_epoch, eval_every, use_profiler, profile_batch)
        callbacks.extend(chief_only(writers, runtime.is_chief))
        callbacks.append(backup)
        history = model.fit(
            train_data, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
            callbacks=callbacks, shuffle=False,  # build_dataset shuffles
            verbose=chief_verbose(2 if verbose else 0, runtime.is_chief),
        )  # fmt: skip
        if runtime.is_chief:
            save_model(model, os.path.join(model_dir, "model.keras"))
            say(f"train: wrote {os.path.join(model_dir, 'model.keras')}")
        return model, history.history
    finally:
        if lock is not None:
            lock.release()


def finished_run(model_dir, backup, epochs):
    """True when `model_dir` holds a run that already finished `epochs` epochs (its model.keras was written)."""
    state = read_state(backup.backup_dir)
    return bool(state) and state["epoch"] >= epochs and os.path.isfile(os.path.join(model_dir, "model.keras"))


def _coco_eval_callback(data_dir, runtime, batch_size, image_size, max_boxes, every_n_epochs, verbose):
    from keras_centernet.callbacks.coco_eval import CocoEvalCallback
    from keras_centernet.data import layout
    from keras_centernet.data.pipeline import build_dataset
    from keras_centernet.evaluation.ground_truth import ground_truth_from_tfrecords

    val_pattern = layout.record_file_pattern(data_dir, "val")
    val_data = build_dataset(
        val_pattern, training=False, batch_size=batch_size, image_size=image_size, max_boxes=max_boxes
    )
    # Ground truth from the records themselves: original pixels, crowd regions, no max_boxes cut.
    ground_truth = ground_truth_from_tfrecords(val_pattern) if runtime.is_chief else None
    return CocoEvalCallback(
        val_data, ground_truth=ground_truth, every_n_epochs=every_n_epochs, is_chief=runtime, verbose=verbose
    )


def _chief_writers(model_dir, initial_epoch, eval_every, use_profiler, profile_batch):
    """Callbacks only the chief runs: checkpoints, history.json, TensorBoard / profiler (all crash-safe)."""
    from keras_centernet.callbacks.profiler import make_profiler_callback, tensorboard_available

    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    writers = [
        EpochCheckpoint(os.path.join(checkpoint_dir, "epoch_{epoch:03d}.keras")),
        HistoryFile(os.path.join(model_dir, HISTORY_FILE), initial_epoch=initial_epoch),
    ]
    if eval_every and eval_every > 0:
        writers.append(EpochCheckpoint(os.path.join(checkpoint_dir, "best_val_AP.keras"), monitor="val_AP"))
    log_dir = os.path.join(model_dir, "logs")
    if tensorboard_available():  # one TensorBoard callback: scalars, plus the profile with use_profiler
        writers.append(keras.callbacks.TensorBoard(log_dir, profile_batch=profile_batch if use_profiler else 0))
    elif use_profiler:
        writers.append(make_profiler_callback(os.path.join(log_dir, "profile"), profile_batch))
    return writers
