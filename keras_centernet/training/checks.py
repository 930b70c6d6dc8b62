"""Every training input checked before anything is built: one InputError line naming the argument (or shard)
and the rule (keras_centernet.validation)."""

import math
import numbers

from keras_centernet.validation import (
    InputError,
    check_dir_exists,
    check_image_size,
    check_positive,
    check_writable_dir,
)


def _positive_or_none(value, argument):
    return None if value is None else check_positive(value, argument)


def check_training_inputs(
    data_dir, model_dir, image_size, batch_size, steps_per_epoch=None, fine_tune_ckpt=None, eval_every=0
):
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
        from keras_centernet.models.weights import check_fine_tune_ckpt

        try:
            check_fine_tune_ckpt(fine_tune_ckpt)
        except FileNotFoundError as error:
            raise InputError(str(error)) from error
    num_records = check_split(layout.record_file_pattern(data_dir, "train"), "--data_dir")
    if eval_every and eval_every > 0:
        check_split(layout.record_file_pattern(data_dir, "val"), "--eval_every (the val split)")
    check_writable_dir(model_dir, "--model_dir")
    return num_records


def _check_range(value, argument):
    if len(value) != 2 or not 0 < value[0] <= value[1]:
        raise InputError(f"{argument} takes MIN,MAX with 0 < MIN <= MAX, got {value!r}")


def _check_interval(value, argument, low, high):
    if not low <= value <= high:
        raise InputError(f"{argument} must be in [{low:g}, {high:g}], got {value!r}")


def check_augmentation(augmentation):
    """The augmentation group's ranges: 0 < MIN <= MAX for factor ranges, probabilities and fractions in [0, 1],
    non-negative sizes and deltas, crop "scale" or "object"."""
    for name in ("scale_range", "crop_aspect_range", "crop_area_range", "contrast_range", "saturation_range"):
        _check_range(getattr(augmentation, name), f"--{name}")
    if augmentation.crop_area_range[1] > 1:
        raise InputError(f"--crop_area_range MAX must be <= 1, got {augmentation.crop_area_range!r}")
    for name in ("flip_probability", "crop_min_object_covered", "crop_overlap_thresh", "crop_keep_probability",
                 "brightness_delta"):  # fmt: skip
        _check_interval(getattr(augmentation, name), f"--{name}", 0.0, 1.0)
    _check_interval(augmentation.hue_delta, "--hue_delta", 0.0, 0.5)
    for name in ("color_jitter", "min_box_size", "max_pad"):
        if getattr(augmentation, name) < 0:
            raise InputError(f"--{name} must be >= 0, got {getattr(augmentation, name)!r}")
    if augmentation.crop not in ("scale", "object"):
        raise InputError(f"--crop must be scale or object, got {augmentation.crop!r}")


def check_learning_rate(value, argument="--learning_rate"):
    """A finite number > 0 (a negative rate climbs the loss, 0 trains nothing), else InputError naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{argument} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_checkpoints(checkpoints):
    """--keep_checkpoints an integer >= 0; --backup_every_minutes a finite number >= 0."""
    import math

    from keras_centernet.callbacks.checkpoint import check_keep

    check_keep(checkpoints.keep_checkpoints)
    minutes = checkpoints.backup_every_minutes
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) or minutes < 0:
        raise InputError(f"--backup_every_minutes must be a number >= 0 (0: only at epoch ends), got {minutes!r}")


def check_config(config):
    """All of `config` checked in the order train() always has (learning-rate flags, then the data, the model_dir);
    returns (the lr_boundaries as steps or None, the number of training records)."""
    from keras_centernet.schedules import parse_lr_boundaries

    schedule = config.schedule
    check_learning_rate(schedule.learning_rate)
    boundaries = parse_lr_boundaries(schedule.lr_boundaries)
    check_positive(schedule.lr_reference_batch, "--lr_reference_batch")
    check_augmentation(config.augmentation)
    check_positive(config.model.head_channels, "--head_channels")
    if config.reports.log_every_steps < 0:
        raise InputError(f"--log_every_steps must be >= 0 (0: no lines), got {config.reports.log_every_steps!r}")
    _check_checkpoints(config.checkpoints)
    num_records = check_training_inputs(
        config.data.data_dir, config.data.model_dir, config.data.image_size, schedule.batch_size,
        schedule.steps_per_epoch, config.model.fine_tune_ckpt, config.reports.eval_every,
    )  # fmt: skip
    return boundaries, num_records
