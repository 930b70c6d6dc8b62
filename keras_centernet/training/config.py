"""`TrainConfig`: one training job as small named records, grouped like `keras-centernet train --help`.

    TrainConfig
      data          DataConfig          where the records are, where the run writes, input size, boxes per image
      model         ModelConfig         backbone, neck, their weights, a checkpoint to fine-tune from, recipe name
      schedule      ScheduleConfig      batch, steps/epochs, learning rate rule, warm-up, seed
      hardware      HardwareConfig      precision, Horovod, accelerators, XLA
      reports       ReportConfig        performance summary, profiler, COCO evaluation, verbosity
      checkpoints   CheckpointConfig    how many epoch checkpoints stay, how often the step backup is written
      augmentation  AugmentationConfig  crop (paper's scale or OD API's object crop + pad), flip, colour, lighting

Every field has the name of its `train(...)` keyword and CLI flag, so `TrainConfig.from_keywords(data_dir,
model_dir, batch_size=8)` is `train(data_dir, model_dir, batch_size=8)`. `to_dict()` is json (tuples as lists)
and `from_dict(to_dict())` gives the same config back; `train()` saves it as `model_dir/train_config.json`.
Values are checked when the job starts (`keras_centernet.training.checks`), not here.
"""

import dataclasses

CONFIG_FILE = "train_config.json"
HISTORY_FILE = "history.json"
STEP_LOG_FILE = "steps.csv"
MODEL_FILE = "model.keras"


def _as_tuple(value):
    """Lists (json) -> tuples, so a config read back compares equal to the one written; other values unchanged."""
    return tuple(value) if isinstance(value, list) else value


class _Group:
    """A frozen record of one flag group; json lists become tuples again."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, _as_tuple(getattr(self, field.name)))

    def to_dict(self):
        return {field.name: _json_value(getattr(self, field.name)) for field in dataclasses.fields(self)}


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


@dataclasses.dataclass(frozen=True)
class DataConfig(_Group):
    """data_dir: converted dataset (label map + tfrecords/); model_dir: everything the run writes; image_size:
    square input side in pixels (multiple of 32); max_boxes: boxes per image after padding."""

    data_dir: str = None
    model_dir: str = None
    image_size: int = 512
    max_boxes: int = 128


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Group):
    """backbone name, neck ("fpn", "deconv" or "dcn"), backbone_weights ("imagenet" or a file), fine_tune_ckpt (a
    .keras or .weights.h5 loaded by name and shape); head_channels of each head's 3x3 conv (64: paper, 256: OD
    API); box_loss_normalization of the size and offset L1: "coordinates" (2 x boxes, paper) or "boxes" (OD API);
heatmap_gaussian "paper" (ceiled size, (2r+1)^2 window) or "od_api" (float size, whole map); heatmap_normalization
of the focal loss: "peaks" (peak cells, paper) or "boxes" (OD API); mask_padding: the heatmap loss only on the
real image, not the letterbox padding (OD API);
    recipe: the name of the recipe the job started from (`train --recipe NAME`, `Recipe.config()`; None: flags only),
    a record of where the values came from: they are in the fields of every group."""

    backbone: str = "resnet101"
    neck: str = "fpn"
    backbone_weights: str = None
    fine_tune_ckpt: str = None
    head_channels: int = 64
    box_loss_normalization: str = "coordinates"
    heatmap_gaussian: str = "paper"
    heatmap_normalization: str = "peaks"
    mask_padding: bool = False
    recipe: str = None


@dataclasses.dataclass(frozen=True)
class ScheduleConfig(_Group):
    """batch_size per device; num_train_steps (> 0) or epochs; learning_rate for a global batch of
    lr_reference_batch images; lr_boundaries: steps of the x0.1 drops ("90000,120000", a sequence, or None for
    the recipe's scaled to the run); warmup_steps from 0; seed for weights, shuffling and augmentation."""

    batch_size: int = 16
    num_train_steps: int = 0
    epochs: int = 1
    steps_per_epoch: int = None
    learning_rate: float = 1e-3
    lr_boundaries: object = None
    lr_reference_batch: int = 64
    warmup_steps: int = 0
    seed: int = None


@dataclasses.dataclass(frozen=True)
class HardwareConfig(_Group):
    """use_amp with amp_dtype auto|float16|bfloat16; use_horovod (+ fp16_allreduce); use_gpu; use_xla."""

    use_amp: bool = False
    amp_dtype: str = "auto"
    use_horovod: bool = False
    fp16_allreduce: bool = False
    use_gpu: bool = True
    use_xla: bool = False


@dataclasses.dataclass(frozen=True)
class ReportConfig(_Group):
    """summary.json (use_performance, performance_warmup_steps), profiler (use_profiler, profile_batch: first and
    last 1-based step), COCO mAP every eval_every epochs (eval_batch_size; None: the training batch), verbose,
    log_every_steps: a progress line every N steps when stdout is not a terminal (0: none; a terminal gets a bar)."""

    use_profiler: bool = False
    profile_batch: tuple = (10, 20)
    use_performance: bool = False
    performance_warmup_steps: int = 10
    eval_every: int = 0
    eval_batch_size: int = None
    verbose: int = 1
    log_every_steps: int = 100


@dataclasses.dataclass(frozen=True)
class CheckpointConfig(_Group):
    """keep_checkpoints: the last K `checkpoints/epoch_NNN.keras` stay (older ones are removed once the newer one
    is durable; the best one is kept apart); backup_every_minutes: the resume state is also written mid-epoch
    at the first step after this many minutes since the last one (0: only at epoch ends and on SIGTERM)."""

    keep_checkpoints: int = 3
    backup_every_minutes: float = 30.0


@dataclasses.dataclass(frozen=True)
class AugmentationConfig(_Group):
    """Training-time augmentation (keras_centernet.data.pipeline.build_dataset); the defaults are the paper's.

    crop: "scale" (the paper: random rescale of the longer side by scale_range, square crop to image_size) or
    "object" (the OD API: random_crop_image with the crop_* fields, random_absolute_pad_image of up to max_pad
    px, then the letterbox to image_size). crop_min_object_covered: fraction of one box the window must cover;
    crop_aspect_range: window width / height; crop_area_range: window area / image area; crop_overlap_thresh: boxes
    with less of their area inside are dropped; crop_keep_probability: chance of no crop (the OD API's random_coef).
    flip_probability of a horizontal flip; color_jitter: the paper's brightness/contrast/saturation strength (0:
    off); the OD API's colour ops: hue_delta (turns), contrast_range and saturation_range (factors; (1, 1): off),
    brightness_delta (on 0..1 pixels); pca_lighting (AlexNet-style); min_box_size: smaller boxes (px) are dropped.
    """

    scale_range: tuple = (0.6, 1.3)
    flip_probability: float = 0.5
    color_jitter: float = 0.4
    pca_lighting: bool = False
    min_box_size: float = 2.0
    crop: str = "scale"
    crop_min_object_covered: float = 1.0
    crop_aspect_range: tuple = (0.75, 1.33)
    crop_area_range: tuple = (0.1, 1.0)
    crop_overlap_thresh: float = 0.3
    crop_keep_probability: float = 0.0
    max_pad: int = 0
    hue_delta: float = 0.0
    contrast_range: tuple = (1.0, 1.0)
    saturation_range: tuple = (1.0, 1.0)
    brightness_delta: float = 0.0


GROUPS = {
    "data": DataConfig,
    "model": ModelConfig,
    "schedule": ScheduleConfig,
    "hardware": HardwareConfig,
    "reports": ReportConfig,
    "checkpoints": CheckpointConfig,
    "augmentation": AugmentationConfig,
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The whole training job: one record per flag group (see the module docstring)."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    hardware: HardwareConfig = HardwareConfig()
    reports: ReportConfig = ReportConfig()
    checkpoints: CheckpointConfig = CheckpointConfig()
    augmentation: AugmentationConfig = AugmentationConfig()

    def to_dict(self):
        """{"data": {...}, "model": {...}, ...}: json-serializable."""
        return {name: getattr(self, name).to_dict() for name in GROUPS}

    @classmethod
    def from_dict(cls, values):
        """The inverse of `to_dict`; missing groups or fields take their defaults, unknown ones raise TypeError."""
        unknown = set(values) - set(GROUPS)
        if unknown:
            raise TypeError(f"TrainConfig has no group(s) {sorted(unknown)}; expected {list(GROUPS)}")
        return cls(**{name: GROUPS[name](**values[name]) for name in values})

    @classmethod
    def from_keywords(cls, data_dir=None, model_dir=None, **keywords):
        """`train(data_dir, model_dir, **keywords)`'s flat keywords sorted into their groups."""
        return cls().replace(data_dir=data_dir, model_dir=model_dir, **keywords)

    def replace(self, **keywords):
        """A copy with the named fields (flat names, e.g. batch_size=8) changed; unknown names raise TypeError."""
        changes = {}
        for key, value in keywords.items():
            group = group_of(key)
            changes.setdefault(group, {})[key] = value
        return dataclasses.replace(
            self, **{group: dataclasses.replace(getattr(self, group), **fields) for group, fields in changes.items()}
        )


def group_of(field_name):
    """The TrainConfig group that holds `field_name` ("batch_size" -> "schedule"); TypeError when none does."""
    for group, record in GROUPS.items():
        if field_name in {field.name for field in dataclasses.fields(record)}:
            return group
    raise TypeError(f"train() got an unexpected keyword argument {field_name!r}")
