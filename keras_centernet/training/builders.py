"""What `train()` composes, each built from a `TrainConfig`: the distribution runtime, the class map, the training
data, the compiled model and the callback list (in the order that keeps a run crash-safe)."""

import os

import keras

from keras_centernet.callbacks.checkpoint import BEST_CHECKPOINT, EPOCH_CHECKPOINT_PATTERN, EpochCheckpoint
from keras_centernet.callbacks.history_file import HistoryFile
from keras_centernet.callbacks.nonfinite import StopOnNonFinite
from keras_centernet.training.config import HISTORY_FILE, STEP_LOG_FILE
from keras_centernet.validation import InputError


def build_runtime(config):
    """The distribution runtime: Horovod with use_horovod, else MirroredStrategy / JAX DataParallel / one device."""
    from keras_centernet.distribution import setup_distribution

    hardware = config.hardware
    return setup_distribution("horovod" if hardware.use_horovod else "auto", use_gpu=hardware.use_gpu)


def build_class_map(data_dir):
    """(class ids, class names) from the dataset's label map, in its order; InputError when it has none."""
    from keras_centernet.data import layout
    from keras_centernet.data.label_map import read_label_map

    path = layout.label_map_path(data_dir)
    if not os.path.isfile(path):
        raise InputError(f"--data_dir {data_dir!r} has no label map {layout.LABEL_MAP_FILENAME}: convert it first")
    categories = read_label_map(path)
    return list(categories), list(categories.values())


def build_train_data(config, runtime, seed, start_step=0):
    """The repeated, shuffled, augmented training `tf.data.Dataset`: this process's share of every global batch,
    from optimizer step `start_step` on, its order and augmentation a function of `seed` and the step only."""
    from keras_centernet.data import layout
    from keras_centernet.data.pipeline import build_dataset

    data, augmentation = config.data, config.augmentation
    batch_size = runtime.process_batch_size(config.schedule.batch_size)
    return build_dataset(
        layout.record_file_pattern(data.data_dir, "train"), training=True, batch_size=batch_size,
        image_size=data.image_size, max_boxes=data.max_boxes, shard=runtime.shard, seed=seed, repeat=True,
        start=int(start_step) * batch_size, **augmentation.to_dict(),
    )  # fmt: skip


def build_model(config, runtime, class_map, plan, say):
    """The CenterNet, fine-tune weights loaded, compiled with Adam on the plan's schedule (call inside
    `runtime.scope()`); Horovod runs get the gradient reducer."""
    from keras_centernet.horovod import HorovodGradientReducer, horovod_jit_compile
    from keras_centernet.models.backbones import build_backbone
    from keras_centernet.models.centernet import CenterNet
    from keras_centernet.models.keras_hub_backbone import is_keras_hub_name
    from keras_centernet.models.weights import load_matching_weights
    from keras_centernet.schedules import make_learning_rate_schedule

    model_config, schedule, hardware = config.model, config.schedule, config.hardware
    class_ids, class_names = class_map
    backbone = model_config.backbone
    if is_keras_hub_name(backbone):  # built here, so saved models hold the backbone itself, not the preset's name
        backbone = build_backbone(backbone, weights=model_config.backbone_weights)
    model = CenterNet(
        len(class_ids), backbone=backbone, neck=model_config.neck,
        backbone_weights=model_config.backbone_weights, class_ids=class_ids, class_names=class_names,
        image_size=config.data.image_size, head_channels=model_config.head_channels,
        box_loss_normalization=model_config.box_loss_normalization,
        heatmap_gaussian=model_config.heatmap_gaussian, heatmap_normalization=model_config.heatmap_normalization,
        mask_padding=model_config.mask_padding,
    )  # fmt: skip
    if model_config.fine_tune_ckpt:
        load_matching_weights(model, model_config.fine_tune_ckpt, print_fn=say)
    learning_rate = make_learning_rate_schedule(
        schedule.learning_rate, plan.global_batch, list(plan.drops), 0.1, schedule.warmup_steps,
        reference_batch_size=schedule.lr_reference_batch,
    )  # fmt: skip
    use_xla = hardware.use_xla
    jit_compile = horovod_jit_compile(use_xla or "auto") if runtime.use_horovod else bool(use_xla)
    model.compile(keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    if runtime.use_horovod:
        model.gradient_reducer = HorovodGradientReducer("fp16" if hardware.fp16_allreduce else "none")
    return model


def build_backup(config, runtime, seed):
    """This rank's `CrashSafeBackup` in model_dir/backup/rank_N; under Horovod its saves meet at a barrier."""
    from keras_centernet.callbacks.backup import CrashSafeBackup
    from keras_centernet.horovod import any_rank

    backup_dir = os.path.join(config.data.model_dir, "backup", f"rank_{runtime.rank}")
    barrier = (lambda: any_rank(False)) if runtime.use_horovod else None
    return CrashSafeBackup(backup_dir, seed=seed, barrier=barrier)


def build_callbacks(config, runtime, plan, backup, start_step, sigterm, broadcast_non_trainable=True):
    """The callback list, in this order: the non-finite guard (it raises before anything saves), Horovod's, the
    step log (chief), the preemption guard (mid-epoch backups; it raises on SIGTERM after its backup), progress
    inside the epoch (with verbose; it clears its bar before the others print at the epoch's end), COCO eval,
    performance, the chief's writers, and the backup last, so a kill between the epoch's writes redoes that epoch
    (history.json and checkpoints are rewritten) instead of skipping it. `sigterm`: the event of
    `callbacks.preemption.sigterm_requests`."""
    from keras_centernet.callbacks.horovod import horovod_callbacks
    from keras_centernet.callbacks.progress import TrainingProgress
    from keras_centernet.callbacks.step_log import StepLog
    from keras_centernet.distribution import chief_only

    reports = config.reports
    callbacks = [StopOnNonFinite(start_step)]
    if runtime.use_horovod:
        callbacks += horovod_callbacks(broadcast_non_trainable=broadcast_non_trainable)
    callbacks += chief_only([StepLog(os.path.join(config.data.model_dir, STEP_LOG_FILE), start_step)], runtime.is_chief)
    callbacks.append(_preemption_guard(config, runtime, plan, backup, sigterm))
    if reports.verbose:
        callbacks.append(TrainingProgress(plan.global_batch, reports.log_every_steps, is_chief=runtime.is_chief))
    if reports.eval_every and reports.eval_every > 0:
        callbacks.append(_coco_eval_callback(config, runtime, plan.epochs))
    if reports.use_performance:
        callbacks.append(_performance_callback(config, runtime, plan))
    callbacks.extend(chief_only(_chief_writers(config, start_step // plan.steps_per_epoch), runtime.is_chief))
    callbacks.append(backup)
    return callbacks


def _preemption_guard(config, runtime, plan, backup, sigterm):
    from keras_centernet.callbacks.preemption import PreemptionGuard
    from keras_centernet.horovod import any_rank

    every_seconds = 60.0 * config.checkpoints.backup_every_minutes
    if runtime.use_horovod:  # any rank's SIGTERM, the chief's clock

        def combine(stop, due):
            return any_rank(stop, due and runtime.is_chief)
    else:
        combine = None
    return PreemptionGuard(backup, sigterm, plan.steps_per_epoch, every_seconds, combine=combine)


def _coco_eval_callback(config, runtime, final_epoch):
    from keras_centernet.callbacks.coco_eval import CocoEvalCallback
    from keras_centernet.data import layout
    from keras_centernet.data.pipeline import build_dataset
    from keras_centernet.evaluation.ground_truth import ground_truth_from_tfrecords

    data, reports = config.data, config.reports
    val_pattern = layout.record_file_pattern(data.data_dir, "val")
    batch_size = reports.eval_batch_size or runtime.process_batch_size(config.schedule.batch_size)
    val_data = build_dataset(
        val_pattern, training=False, batch_size=batch_size, image_size=data.image_size, max_boxes=data.max_boxes
    )
    # Ground truth from the records themselves: original pixels, crowd regions, no max_boxes cut.
    ground_truth = ground_truth_from_tfrecords(val_pattern) if runtime.is_chief else None
    return CocoEvalCallback(
        val_data, ground_truth=ground_truth, every_n_epochs=reports.eval_every, is_chief=runtime,
        verbose=reports.verbose, final_epoch=final_epoch,
    )  # fmt: skip


def _performance_callback(config, runtime, plan):
    from keras_centernet.callbacks.performance import PerformanceCallback

    return PerformanceCallback(
        config.schedule.batch_size, num_devices=runtime.num_devices,
        warmup_steps=config.reports.performance_warmup_steps, output_dir=config.data.model_dir,
        precision=plan.policy, is_chief=runtime.is_chief,
    )  # fmt: skip


def _chief_writers(config, initial_epoch):
    """Callbacks only the chief runs: the last --keep_checkpoints epoch checkpoints and the best, history.json,
    TensorBoard / profiler (all crash-safe)."""
    from keras_centernet.callbacks.profiler import make_profiler_callback, tensorboard_available

    model_dir, reports = config.data.model_dir, config.reports
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    history_path = os.path.join(model_dir, HISTORY_FILE)
    writers = [
        EpochCheckpoint(os.path.join(checkpoint_dir, EPOCH_CHECKPOINT_PATTERN),
                        keep=config.checkpoints.keep_checkpoints),
        HistoryFile(history_path, initial_epoch=initial_epoch),
    ]
    if reports.eval_every and reports.eval_every > 0:  # the best so far is restored from history.json's rows
        writers.append(EpochCheckpoint(os.path.join(checkpoint_dir, BEST_CHECKPOINT), monitor="val_AP",
                                       history_path=history_path, initial_epoch=initial_epoch))  # fmt: skip
    log_dir = os.path.join(model_dir, "logs")
    profile_batch = reports.profile_batch
    if tensorboard_available():  # one TensorBoard callback: scalars, plus the profile with use_profiler
        writers.append(keras.callbacks.TensorBoard(log_dir, profile_batch=profile_batch if reports.use_profiler else 0))
    elif reports.use_profiler:
        writers.append(make_profiler_callback(os.path.join(log_dir, "profile"), profile_batch))
    return writers
