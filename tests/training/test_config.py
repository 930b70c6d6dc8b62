"""TrainConfig: grouped like the CLI, a json round trip, flat keywords sorted into groups, every flag mapped."""

import argparse
import json

import pytest

from keras_centernet.commands.train import add_arguments, config_from_args
from keras_centernet.training import (
    AugmentationConfig,
    DataConfig,
    HardwareConfig,
    ModelConfig,
    ReportConfig,
    ScheduleConfig,
    TrainConfig,
)
from keras_centernet.training.checks import check_augmentation
from keras_centernet.validation import InputError

EVERY_FLAG = [
    "--data_dir", "d", "--model_dir", "m", "--image_size", "96", "--max_boxes", "7",
    "--backbone", "tiny", "--neck", "deconv", "--backbone_weights", "w.h5", "--fine_tune_ckpt", "f.keras",
    "--batch_size", "3", "--num_train_steps", "11", "--epochs", "2", "--steps_per_epoch", "5",
    "--learning_rate", "0.002", "--lr_reference_batch", "32", "--lr_boundaries", "4,8", "--warmup_steps", "2",
    "--seed", "9",
    "--use_amp", "--amp_dtype", "bfloat16", "--use_horovod", "--fp16_allreduce", "--use_gpu", "false", "--use_xla",
    "--use_performance", "--performance_warmup_steps", "1", "--use_profiler", "--profile_batch", "2,3",
    "--eval_every", "4", "--verbose", "0",
    "--scale_range", "0.8,1.1", "--flip_probability", "0", "--color_jitter", "0.1", "--pca_lighting",
    "--min_box_size", "3",
]  # fmt: skip


def parse(argv):
    return add_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_every_flag_lands_in_its_group():
    assert config_from_args(parse(EVERY_FLAG)) == TrainConfig(
        data=DataConfig(data_dir="d", model_dir="m", image_size=96, max_boxes=7),
        model=ModelConfig(backbone="tiny", neck="deconv", backbone_weights="w.h5", fine_tune_ckpt="f.keras"),
        schedule=ScheduleConfig(
            batch_size=3, num_train_steps=11, epochs=2, steps_per_epoch=5, learning_rate=0.002, lr_boundaries="4,8",
            lr_reference_batch=32, warmup_steps=2, seed=9,
        ),  # fmt: skip
        hardware=HardwareConfig(
            use_amp=True, amp_dtype="bfloat16", use_horovod=True, fp16_allreduce=True, use_gpu=False, use_xla=True
        ),
        reports=ReportConfig(
            use_profiler=True, profile_batch=(2, 3), use_performance=True, performance_warmup_steps=1, eval_every=4,
            eval_batch_size=None, verbose=0,
        ),  # fmt: skip
        augmentation=AugmentationConfig(
            scale_range=(0.8, 1.1), flip_probability=0.0, color_jitter=0.1, pca_lighting=True, min_box_size=3.0
        ),
    )


def test_default_flags_are_the_default_config():
    assert config_from_args(parse(["--data_dir", "d", "--model_dir", "m"])) == TrainConfig.from_keywords("d", "m")


def test_help_is_grouped_like_the_config():
    help_text = add_arguments(argparse.ArgumentParser()).format_help()
    groups = ["data and output:", "model:", "schedule:", "hardware and scale:", "reports:", "augmentation:"]
    positions = [help_text.index(group) for group in groups]
    assert positions == sorted(positions)
    assert help_text.rindex("--scale_range MIN,MAX") > help_text.index("augmentation:")


def test_a_bad_scale_range_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        parse(["--data_dir", "d", "--model_dir", "m", "--scale_range", "1"])
    assert "expected MIN,MAX (two numbers), got '1'" in capsys.readouterr().err


def test_json_round_trip():
    config = config_from_args(parse(EVERY_FLAG))
    text = json.dumps(config.to_dict())
    assert TrainConfig.from_dict(json.loads(text)) == config
    assert json.loads(text)["augmentation"]["scale_range"] == [0.8, 1.1]
    assert TrainConfig.from_dict({"schedule": {"batch_size": 2}}) == TrainConfig().replace(batch_size=2)
    with pytest.raises(TypeError, match="no group"):
        TrainConfig.from_dict({"optimizer": {}})


def test_flat_keywords_go_to_their_groups():
    config = TrainConfig.from_keywords("d", "m", batch_size=8, use_amp=True, flip_probability=0.0, profile_batch=[1, 2])
    assert config.data.data_dir == "d" and config.data.model_dir == "m"
    assert config.schedule.batch_size == 8 and config.hardware.use_amp and config.augmentation.flip_probability == 0
    assert config.reports.profile_batch == (1, 2)
    assert config.replace(batch_size=4).schedule.batch_size == 4 and config.schedule.batch_size == 8  # frozen copy
    with pytest.raises(TypeError, match="unexpected keyword argument 'batchsize'"):
        TrainConfig.from_keywords("d", "m", batchsize=8)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"scale_range": (1.2, 1.0)}, "--scale_range takes MIN,MAX with 0 < MIN <= MAX"),
        ({"scale_range": (0.0, 1.0)}, "--scale_range takes MIN,MAX with 0 < MIN <= MAX"),
        ({"flip_probability": 1.5}, "--flip_probability must be in [0, 1], got 1.5"),
        ({"color_jitter": -0.1}, "--color_jitter must be >= 0, got -0.1"),
        ({"min_box_size": -1.0}, "--min_box_size must be >= 0, got -1.0"),
    ],
)
def test_augmentation_ranges_are_checked(change, expected):
    check_augmentation(AugmentationConfig())
    with pytest.raises(InputError) as error:
        check_augmentation(AugmentationConfig(**change))
    assert str(error.value).startswith(expected)
