"""`keras-centernet train`: train a CenterNet on a converted dataset folder (the seed recipe's flags)."""

import argparse
import sys

from keras_centernet.commands.flags import add_bool


def add_arguments(parser):
    """The training flags (shared by `keras-centernet train` and examples/train_coco.py), one argument group per
    `TrainConfig` record, after `--recipe NAME` (a named recipe's fields; flags given override them)."""
    from keras_centernet.commands.recipes import add_recipe_argument

    add_recipe_argument(parser)
    for add_group in (_data_group, _model_group, _schedule_group, _hardware_group, _report_group, _checkpoint_group,
                      _augmentation_group):
        add_group(parser)
    return parser


def _data_group(parser):
    data = parser.add_argument_group("data and output")
    data.add_argument("--data_dir", required=True, help="converted dataset: mscoco_label_map.pbtxt + tfrecords/")
    data.add_argument("--model_dir", required=True, help="checkpoints, logs, summary and model.keras go here")
    data.add_argument("--image_size", type=int, default=512, help="square input side, a multiple of 32 (512)")
    data.add_argument("--max_boxes", type=int, default=128, help="boxes per image after padding (128)")


def _model_group(parser):
    model = parser.add_argument_group("model")
    model.add_argument(
        "--backbone",
        default="resnet101",
        help="tiny|resnet18|resnet34|resnet50|resnet101, or keras_hub:PRESET (e.g. keras_hub:resnet_50_imagenet, "
        "pretrained; needs the keras-hub extra) or the path of a keras-hub preset folder",
    )
    model.add_argument(
        "--neck", default="fpn", choices=("fpn", "deconv", "dcn"),
        help="fpn (default), deconv (paper, plain 3x3 convs) or dcn (paper ResDCN, deformable convs)",
    )  # fmt: skip
    model.add_argument(
        "--backbone_weights", default=None, type=_none_or_text,
        help="'imagenet', a keras.applications weights file, or none (random; resets a recipe's imagenet)",
    )  # fmt: skip
    model.add_argument(
        "--head_channels", type=int, default=64, help="channels of each head's 3x3 conv (64: paper; 256: OD API)"
    )
    model.add_argument(
        "--box_loss_normalization", default="coordinates", choices=("coordinates", "boxes"),
        help="size and offset L1 divided by 2 x boxes (coordinates: paper, default) or by boxes (boxes: OD API)",
    )  # fmt: skip
    model.add_argument(
        "--heatmap_gaussian", default="paper", choices=("paper", "od_api"),
        help="heatmap target: radius from the ceiled box size, (2r+1)^2 window (paper, default) or from the float "
        "box size, Gaussian over the whole map (od_api)",
    )  # fmt: skip
    model.add_argument(
        "--heatmap_normalization", default="peaks", choices=("peaks", "boxes"),
        help="focal loss divided by the number of peak cells (peaks: paper, default) or of boxes (boxes: OD API)",
    )  # fmt: skip
    add_bool(model, "--mask_padding", False, "heatmap loss on the real image only, not the letterbox padding (OD API)")
    model.add_argument(
        "--fine_tune_ckpt",
        default=None,
        help="a CenterNet .keras (any input size, any number of classes), .weights.h5, keras_hub:PRESET or a "
        "keras-hub preset folder to start from: loads what "
        "matches by name and shape, prints one line: N of M weight arrays loaded, what it skipped and why",
    )


def _schedule_group(parser):
    schedule = parser.add_argument_group("schedule")
    schedule.add_argument("--batch_size", type=int, default=16, help="images per device per step (16)")
    schedule.add_argument("--num_train_steps", type=int, default=0, help="total steps; 0: use --epochs (0)")
    schedule.add_argument("--epochs", type=int, default=1, help="epochs over the training set when steps is 0")
    schedule.add_argument("--steps_per_epoch", type=int, default=None, help="steps between checkpoints/evals")
    schedule.add_argument(
        "--learning_rate",
        type=float,
        default=1e-3,
        help="Adam rate for a global batch of --lr_reference_batch images (1e-3). The run trains at "
        "learning_rate x global batch / lr_reference_batch, where global batch = --batch_size x devices, whatever "
        "the launcher (one device, MirroredStrategy, JAX DataParallel, horovodrun); the first line printed shows it",
    )
    schedule.add_argument(
        "--lr_reference_batch",
        type=int,
        default=64,
        help="global batch --learning_rate is stated for (64: the recipe's 1e-3 at 8 devices x 8 images)",
    )
    schedule.add_argument(
        "--lr_boundaries",
        default=None,
        help="comma-separated steps where the rate drops x0.1, e.g. 90000,120000 (default: the recipe's 90000 and "
        "120000 of 140000 scaled to the run: round(steps x 9/14), round(steps x 12/14))",
    )
    schedule.add_argument(
        "--warmup_steps", type=int, default=0, help="linear warm-up from 0 to the scaled rate over these steps (0)"
    )
    schedule.add_argument("--seed", type=int, default=None, help="seed for weights, shuffling and augmentation")


def _hardware_group(parser):
    hardware = parser.add_argument_group("hardware and scale")
    add_bool(hardware, "--use_amp", False, "mixed precision (float16 with loss scaling on GPUs, else bfloat16)")
    hardware.add_argument("--amp_dtype", default="auto", choices=("auto", "float16", "bfloat16"))
    add_bool(hardware, "--use_horovod", False, "Horovod data parallelism (start with horovodrun -np N)")
    add_bool(hardware, "--fp16_allreduce", False, "send Horovod gradients as float16")
    add_bool(hardware, "--use_gpu", True, "use accelerators when present (false: CPU only)")
    add_bool(hardware, "--use_xla", False, "compile the train step with XLA (not with Horovod)")


def _report_group(parser):
    report = parser.add_argument_group("reports")
    add_bool(report, "--use_performance", False, "write model_dir/summary/summary.json (throughput, e2e time)")
    report.add_argument("--performance_warmup_steps", type=int, default=10, help="steps left out of throughput")
    add_bool(report, "--use_profiler", False, "profile steps --profile_batch into model_dir/logs/profile")
    report.add_argument("--profile_batch", default="10,20", help="first,last step to profile (10,20)")
    report.add_argument("--eval_every", type=int, default=0, help="COCO mAP on the val split every N epochs (0: off)")
    report.add_argument(
        "--verbose", type=int, default=1,
        help="0: quiet, 1: per-epoch lines and live progress in each epoch (a bar on a terminal, else a line every "
        "--log_every_steps)",
    )  # fmt: skip
    report.add_argument(
        "--log_every_steps", type=int, default=100,
        help="with --verbose 1: a step/loss/images/s/ETA line every N steps when stdout is a log file or pipe (a "
        "terminal shows a live bar); 0: no lines (100)",
    )  # fmt: skip


def _checkpoint_group(parser):
    checkpoints = parser.add_argument_group("checkpoints and backups")
    checkpoints.add_argument(
        "--keep_checkpoints", type=int, default=3,
        help="keep the last K checkpoints/epoch_NNN.keras (plus best_val_AP.keras); an older one is removed only "
        "after the newer one is written (3)",
    )  # fmt: skip
    checkpoints.add_argument(
        "--backup_every_minutes", type=float, default=30.0,
        help="also write the resume state mid-epoch every this many minutes, bounding what a kill -9 loses (30; 0: "
        "only at epoch ends and on SIGTERM)",
    )  # fmt: skip


def _augmentation_group(parser):
    augmentation = parser.add_argument_group("augmentation")
    augmentation.add_argument(
        "--scale_range", type=float_pair, default=(0.6, 1.3), metavar="MIN,MAX",
        help="random rescale of the longer side relative to --image_size before the crop (0.6,1.3; 1,1: off)",
    )  # fmt: skip
    augmentation.add_argument("--flip_probability", type=float, default=0.5, help="horizontal flip chance (0.5)")
    augmentation.add_argument("--color_jitter", type=float, default=0.4, help="brightness/contrast/saturation (0.4)")
    add_bool(augmentation, "--pca_lighting", False, "AlexNet-style PCA lighting noise")
    augmentation.add_argument(
        "--min_box_size", type=float, default=2.0, help="boxes narrower or shorter than this many pixels are dropped"
    )
    _od_api_augmentation_flags(augmentation)


def _od_api_augmentation_flags(augmentation):
    """The TF OD API's ops (AugmentationConfig; off by default, the od_api_r101_fpn_512 recipe turns them on)."""
    add = augmentation.add_argument
    add("--crop", default="scale", choices=("scale", "object"),
        help="scale: the paper's random scale + square crop (default); object: the OD API's random_crop_image, "
        "random_absolute_pad_image, then the letterbox to --image_size")
    add("--crop_min_object_covered", type=float, default=1.0, help="object crop: fraction of one box covered (1)")
    add("--crop_aspect_range", type=float_pair, default=(0.75, 1.33), metavar="MIN,MAX",
        help="object crop: window width / height (0.75,1.33)")
    add("--crop_area_range", type=float_pair, default=(0.1, 1.0), metavar="MIN,MAX",
        help="object crop: window area / image area (0.1,1)")
    add("--crop_overlap_thresh", type=float, default=0.3, help="object crop: boxes less inside are dropped (0.3)")
    add("--crop_keep_probability", type=float, default=0.0, help="object crop: chance of no crop (random_coef, 0)")
    add("--max_pad", type=int, default=0, help="object crop: random black pad of up to this many px per axis (0)")
    add("--hue_delta", type=float, default=0.0, help="OD API hue shift, fraction of a turn (0: off)")
    add("--contrast_range", type=float_pair, default=(1.0, 1.0), metavar="MIN,MAX", help="OD API contrast (1,1: off)")
    add("--saturation_range", type=float_pair, default=(1.0, 1.0), metavar="MIN,MAX",
        help="OD API saturation factor (1,1: off)")
    add("--brightness_delta", type=float, default=0.0, help="OD API brightness shift on 0..1 pixels (0: off)")


def float_pair(value):
    """argparse type for MIN,MAX -> (min, max) floats."""
    parts = value.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (two numbers), got {value!r}") from None
    return low, high


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a CenterNet on a converted dataset",
        description="Train CenterNet with model.fit on DIR/tfrecords/coco_train.record-*. Rerun the same command "
        "to resume after an interruption. Multi-device: horovodrun -np N keras-centernet train --use_horovod ... "
        "Learning rate: --learning_rate is stated for a global batch of --lr_reference_batch (default 64) images; "
        "the run trains at learning_rate x global batch / lr_reference_batch (global batch = --batch_size x all "
        "devices of all processes) under every launcher, warms up from 0 over --warmup_steps and drops x0.1 at "
        "--lr_boundaries.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Runs `training.train` on the TrainConfig of the parsed flags (see `run_config`)."""
    return run_config(config_from_args(args))


def run_config(config):
    """Runs `training.train(config=config)`: exit 0; a non-finite loss ends it with one line and exit 1; SIGTERM
    with its backup written, one line and exit 143 (`callbacks.preemption.INTERRUPTED_EXIT_STATUS`)."""
    from keras_centernet.callbacks.nonfinite import NonFiniteLossError
    from keras_centernet.callbacks.preemption import INTERRUPTED_EXIT_STATUS, TrainingInterrupted
    from keras_centernet.training import train

    try:
        train(config=config)
    except NonFiniteLossError as error:
        print(f"keras-centernet train: error: {error}", file=sys.stderr)
        return 1
    except TrainingInterrupted as interrupted:
        print(f"keras-centernet train: {interrupted}", file=sys.stderr)
        return INTERRUPTED_EXIT_STATUS
    return 0


def _none_or_text(value):
    """`--backbone_weights none` (any case) -> None, so a flag can reset a recipe's 'imagenet'."""
    return None if value.strip().lower() in ("none", "") else value


def config_from_args(args):
    """The `TrainConfig` of parsed flags: each argument group fills the record of the same name; `--recipe NAME`
    (its fields already set by RecipeAction) is recorded as `model.recipe`, so train_config.json names it."""
    import dataclasses

    from keras_centernet.callbacks.profiler import parse_profile_batch
    from keras_centernet.training import config

    def group(record, **converted):  # fields without a flag (eval_batch_size) keep their defaults
        names = [field.name for field in dataclasses.fields(record) if field.name not in converted]
        return record(**{name: getattr(args, name) for name in names if hasattr(args, name)}, **converted)

    return config.TrainConfig(
        data=group(config.DataConfig),
        model=group(config.ModelConfig),
        schedule=group(config.ScheduleConfig),
        hardware=group(config.HardwareConfig),
        reports=group(config.ReportConfig, profile_batch=parse_profile_batch(args.profile_batch)),
        checkpoints=group(config.CheckpointConfig),
        augmentation=group(config.AugmentationConfig),
    )
