"""Training: `train(...)` and the named pieces it composes.

config.py     TrainConfig: the job as records grouped like the CLI (data, model, schedule, hardware, reports,
              checkpoints, augmentation), json round trip, saved as model_dir/train_config.json
checks.py     every input checked before anything is built (one line naming the argument and the rule)
plan.py       the run's numbers: precision policy, epochs x steps, the learning-rate rule and its first line
builders.py   distribution runtime, class map, training data, compiled model, callback list
train.py      train(): the composition, crash-safe resume at a step, run lock, finished-run detection
synthetic.py  a fixed, seeded synthetic-set run that tests and benchmarks compare against
"""

from keras_centernet.training.checks import check_training_inputs
from keras_centernet.training.config import (
    AugmentationConfig,
    CheckpointConfig,
    DataConfig,
    HardwareConfig,
    ModelConfig,
    ReportConfig,
    ScheduleConfig,
    TrainConfig,
)
from keras_centernet.training.plan import (
    LR_DROPS,
    RECIPE_LR_BOUNDARIES,
    RECIPE_STEPS,
    lr_boundaries,
    plan_steps,
    precision_policy,
)
from keras_centernet.training.train import train

__all__ = [
    "AugmentationConfig",
    "CheckpointConfig",
    "DataConfig",
    "HardwareConfig",
    "LR_DROPS",
    "ModelConfig",
    "RECIPE_LR_BOUNDARIES",
    "RECIPE_STEPS",
    "ReportConfig",
    "ScheduleConfig",
    "TrainConfig",
    "check_training_inputs",
    "lr_boundaries",
    "plan_steps",
    "precision_policy",
    "train",
]
