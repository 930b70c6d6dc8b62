"""The head width and box-loss normalization options: CenterNet arguments, get_config, TrainConfig, train flags
and the model builder."""

import argparse
import types

import numpy as np
import pytest

from keras_centernet import CenterNet
from keras_centernet.commands.train import add_arguments, config_from_args
from keras_centernet.training.config import ModelConfig, TrainConfig


def _head_widths(model):
    """Filters of the 3x3 conv of each head (its first kernel: [3, 3, in, head_channels])."""
    return {name: model.get_layer(name).weights[0].shape[-1] for name in ("heatmap_head", "size_head", "offset_head")}


def test_head_channels_sets_every_head_width_and_round_trips(tiny_model):
    model = tiny_model(3, head_channels=24)
    assert _head_widths(model) == {"heatmap_head": 24, "size_head": 24, "offset_head": 24}
    assert CenterNet.from_config(model.get_config()).head_channels == 24
    assert _head_widths(tiny_model(3)) == {"heatmap_head": 64, "size_head": 64, "offset_head": 64}  # the paper's
    with pytest.raises(ValueError, match="head_channels must be an integer >= 1, got 0"):
        tiny_model(3, head_channels=0)


def _box_losses(model, synthetic_64):
    """(size loss, offset loss) of `model` on 8 synthetic images, with fixed predictions (all zero)."""
    images, boxes, labels = synthetic_64
    grid = (8, 16, 16)
    y_pred = {"heatmap": np.zeros(grid + (3,), np.float32), "size": np.zeros(grid + (2,), np.float32),
              "offset": np.zeros(grid + (2,), np.float32)}  # fmt: skip
    model.compute_loss(images[:8], {"boxes": boxes[:8], "labels": labels[:8]}, y_pred)
    return float(model.size_loss_tracker.result()), float(model.offset_loss_tracker.result())


def test_boxes_normalization_doubles_the_size_and_offset_losses(tiny_model, synthetic_64):
    images, boxes, labels = synthetic_64
    coordinates = _box_losses(tiny_model(3), synthetic_64)
    boxes_mode = tiny_model(3, box_loss_normalization="boxes")
    assert boxes_mode.get_config()["box_loss_normalization"] == "boxes"
    assert CenterNet.from_config(boxes_mode.get_config()).regression_loss.normalization == "boxes"
    doubled = _box_losses(boxes_mode, synthetic_64)
    # zero predictions: the size loss is the mean target w and h (cells) over boxes; boxes mode sums w + h
    valid = labels[:8] >= 0
    sides = (boxes[:8, :, 2:] - boxes[:8, :, :2])[valid] / 4.0
    assert coordinates[0] == pytest.approx(sides.mean(), rel=1e-5)
    assert doubled[0] == pytest.approx(2 * coordinates[0], rel=1e-6)
    assert doubled[1] == pytest.approx(2 * coordinates[1], rel=1e-6) and coordinates[1] > 0
    with pytest.raises(ValueError, match="box loss normalization must be one of .*got 'objects'"):
        tiny_model(3, box_loss_normalization="objects")


def _parse(*flags):
    parser = add_arguments(argparse.ArgumentParser())
    return config_from_args(parser.parse_args(["--data_dir", "d", "--model_dir", "m", *flags]))


def test_train_flags_reach_the_config():
    assert _parse().model == ModelConfig()  # defaults: 64 and "coordinates", today's behaviour
    assert (ModelConfig().head_channels, ModelConfig().box_loss_normalization) == (64, "coordinates")
    config = _parse("--head_channels", "256", "--box_loss_normalization", "boxes")
    assert (config.model.head_channels, config.model.box_loss_normalization) == (256, "boxes")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(SystemExit):
        _parse("--box_loss_normalization", "objects")


def test_the_model_builder_passes_both_options():
    from keras_centernet.training.builders import build_model

    config = TrainConfig.from_keywords("d", "m", backbone="tiny", neck="deconv", image_size=64, head_channels=16,
                                       box_loss_normalization="boxes")  # fmt: skip
    runtime = types.SimpleNamespace(use_horovod=False)
    plan = types.SimpleNamespace(global_batch=8, drops=())
    model = build_model(config, runtime, ([1, 2], ["a", "b"]), plan, print)
    assert _head_widths(model)["size_head"] == 16 and model.regression_loss.normalization == "boxes"
