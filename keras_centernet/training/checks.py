"""Every training input checked before anything is built: one InputError line naming the argument (or shard)
and the rule (keras_centernet.validation)."""

from keras_centernet.validation import (
    InputError,
    check_dir_exists,
    check_file_exists,
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
        check_file_exists(fine_tune_ckpt, "--fine_tune_ckpt")
    num_records = check_split(layout.record_file_pattern(data_dir, "train"), "--data_dir")
    if eval_every and eval_every > 0:
        check_split(layout.record_file_pattern(data_dir, "val"), "--eval_every (the val split)")
    check_writable_dir(model_dir, "--model_dir")
    return num_records


def check_augmentation(augmentation):
    """The augmentation group's ranges: 0 < scale min <= max, probabilities in [0, 1], non-negative sizes."""
    scale_range = augmentation.scale_range
    if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
        raise InputError(f"--scale_range takes MIN,MAX with 0 < MIN <= MAX, got {scale_range!r}")
    if not 0 <= augmentation.flip_probability <= 1:
        raise InputError(f"--flip_probability must be in [0, 1], got {augmentation.flip_probability!r}")
    if augmentation.color_jitter < 0:
        raise InputError(f"--color_jitter must be >= 0, got {augmentation.color_jitter!r}")
    if augmentation.min_box_size < 0:
        raise InputError(f"--min_box_size must be >= 0, got {augmentation.min_box_size!r}")


def check_config(config):
    """All of `config` checked in the order train() always has (learning-rate flags, then the data, the model_dir);
    returns (the lr_boundaries as steps or None, the number of training records)."""
    from keras_centernet.schedules import parse_lr_boundaries

    schedule = config.schedule
    boundaries = parse_lr_boundaries(schedule.lr_boundaries)
    check_positive(schedule.lr_reference_batch, "--lr_reference_batch")
    check_augmentation(config.augmentation)
    num_records = check_training_inputs(
        config.data.data_dir, config.data.model_dir, config.data.image_size, schedule.batch_size,
        schedule.steps_per_epoch, config.model.fine_tune_ckpt, config.reports.eval_every,
    )  # fmt: skip
    return boundaries, num_records
