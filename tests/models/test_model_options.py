"""The head width, box-loss normalization and the OD API's heatmap options (Gaussian, normaliser, padding mask):
CenterNet arguments, get_config, TrainConfig, train flags and the model builder."""

import argparse
import math
import types

import keras
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


# The OD API's target and loss options (issue 19): heatmap_gaussian, heatmap_normalization, mask_padding.

OD_API_OPTIONS = {"heatmap_gaussian": "od_api", "heatmap_normalization": "boxes", "mask_padding": True}


def _zero_predictions(batch, classes=3, cells=16):
    grid = (batch, cells, cells)
    return {"heatmap": np.zeros(grid + (classes,), np.float32), "size": np.zeros(grid + (2,), np.float32),
            "offset": np.zeros(grid + (2,), np.float32)}  # fmt: skip


def _heatmap_loss(model, y, batch=1):
    """The heatmap loss of `model` on targets `y` for all-zero logits (p = 0.5 everywhere) of 64 x 64 inputs."""
    model.heatmap_loss_tracker.reset_state()
    model.compute_loss(np.zeros((batch, 64, 64, 3), np.float32), y, _zero_predictions(batch))
    return float(model.heatmap_loss_tracker.result())


def test_the_options_default_to_todays_behaviour_and_round_trip(tiny_model, synthetic_64):
    model = tiny_model(3)
    assert (model.heatmap_gaussian, model.heatmap_normalization, model.mask_padding) == ("paper", "peaks", False)
    config = model.get_config()
    assert {key: config[key] for key in OD_API_OPTIONS} == {"heatmap_gaussian": "paper",
                                                            "heatmap_normalization": "peaks", "mask_padding": False}
    old = {key: value for key, value in config.items() if key not in OD_API_OPTIONS}  # a v0.1.0 config
    restored = CenterNet.from_config(old)
    assert (restored.heatmap_gaussian, restored.heatmap_normalization, restored.mask_padding) == ("paper", "peaks",
                                                                                                 False)
    chosen = CenterNet.from_config(tiny_model(3, **OD_API_OPTIONS).get_config())
    assert (chosen.heatmap_gaussian, chosen.heatmap_normalization, chosen.mask_padding) == ("od_api", "boxes", True)
    assert chosen.encoder.heatmap_gaussian == "od_api" and chosen.heatmap_loss.normalization == "boxes"
    # default losses: an image_box in the targets changes nothing while mask_padding is off
    images, boxes, labels = synthetic_64
    y = {"boxes": boxes[:4], "labels": labels[:4]}
    plain = _heatmap_loss(model, y, batch=4)
    with_box = _heatmap_loss(model, {**y, "image_box": np.tile([[0.0, 0.0, 20.0, 20.0]], (4, 1))}, batch=4)
    explicit = _heatmap_loss(tiny_model(3, heatmap_gaussian="paper", heatmap_normalization="peaks"), y, batch=4)
    assert plain == with_box == explicit


def test_real_image_cells_follow_the_od_api_rule():
    from keras_centernet.models.centernet import real_image_cells
    from tests.helpers import as_numpy

    # top-left image 41 x 30 px at stride 4: columns < ceil(41 / 4) = 11, rows < ceil(30 / 4) = 8 (the OD API)
    cells = as_numpy(real_image_cells(np.array([[0.0, 0.0, 41.0, 30.0], [9.0, 0.0, 64.0, 64.0]]), (16, 16), 4))
    expected = np.zeros((16, 16), np.float32)
    expected[:8, :11] = 1.0
    np.testing.assert_array_equal(cells[0], expected)
    expected = np.zeros((16, 16), np.float32)
    expected[:, 2:] = 1.0  # columns from floor(9 / 4) = 2: a cell partly on the image counts
    np.testing.assert_array_equal(cells[1], expected)


def test_mask_padding_removes_exactly_the_padding_cells_loss(tiny_model):
    # One box of class 0 in the left 40 px of a 64 px input; the 24 px right of it (cell columns 10..15) is padding.
    y = {"boxes": np.array([[[4.0, 8.0, 20.0, 24.0]]], np.float32), "labels": np.array([[0]], np.int32),
         "image_box": np.array([[0.0, 0.0, 40.0, 64.0]], np.float32)}  # fmt: skip
    unmasked = _heatmap_loss(tiny_model(3), y)
    masked_model = tiny_model(3, mask_padding=True)
    masked = _heatmap_loss(masked_model, y)
    # p = 0.5: a padding cell (target 0) costs (1 - 0)^4 * 0.5^2 * -log(0.5); 16 rows x 6 columns x 3 classes of
    # them, divided by N = 1 peak
    padding = 16 * 6 * 3 * 0.25 * math.log(2.0)
    assert unmasked - masked == pytest.approx(padding, rel=1e-5)
    # the real image's 16 x 10 x 3 cells: the peak costs 0.25 log 2, each other cell (1 - Y)^4 0.25 log 2
    heatmap = np.asarray(masked_model.encode_targets(y, (16, 16))["heatmap"])[0]
    real = heatmap[:, :10]
    expected = 0.25 * math.log(2.0) * (1.0 + ((1.0 - real[real < 1.0]) ** 4).sum())
    assert masked == pytest.approx(expected, rel=1e-5)
    # targets without image_box (fit on arrays): no mask
    assert _heatmap_loss(masked_model, {"boxes": y["boxes"], "labels": y["labels"]}) == pytest.approx(unmasked)


def test_boxes_normalisation_counts_boxes_sharing_a_centre_cell(tiny_model):
    # Two boxes of class 0 whose centres (14, 14) and (13, 13) px land on cell (3, 3): one peak, two boxes.
    y = {"boxes": np.array([[[4.0, 4.0, 24.0, 24.0], [8.0, 8.0, 18.0, 18.0], [-1.0] * 4]], np.float32),
         "labels": np.array([[0, 0, -1]], np.int32)}  # fmt: skip
    peaks_model = tiny_model(3)
    heatmap = np.asarray(peaks_model.encode_targets(y, (16, 16))["heatmap"])
    assert (heatmap == 1.0).sum() == 1
    per_cell = 0.25 * math.log(2.0)  # p = 0.5
    total = per_cell * (1.0 + ((1.0 - heatmap[heatmap < 1.0]) ** 4).sum())
    assert _heatmap_loss(peaks_model, y) == pytest.approx(total / 1.0, rel=1e-5)
    assert _heatmap_loss(tiny_model(3, heatmap_normalization="boxes"), y) == pytest.approx(total / 2.0, rel=1e-5)
    with pytest.raises(ValueError, match="heatmap loss normalization must be one of .*got 'cells'"):
        tiny_model(3, heatmap_normalization="cells")


def test_od_api_options_train(tiny_model, synthetic_64):
    images, boxes, labels = synthetic_64
    model = tiny_model(3, **OD_API_OPTIONS)
    model.compile(keras.optimizers.Adam(1e-3))
    image_box = np.array([[0.0, 0.0, 64.0, 40.0], [0.0, 0.0, 48.0, 64.0]], np.float32)
    before = [np.array(weight) for weight in model.trainable_weights]
    logs = model.train_on_batch(images[:2], {"boxes": boxes[:2], "labels": labels[:2], "image_box": image_box},
                                return_dict=True)  # fmt: skip
    assert np.isfinite(logs["loss"]) and logs["heatmap_loss"] > 0
    assert any(not np.array_equal(old, np.array(new)) for old, new in zip(before, model.trainable_weights))


def test_od_api_flags_reach_the_config_and_the_model():
    from keras_centernet.training.builders import build_model

    assert (ModelConfig().heatmap_gaussian, ModelConfig().heatmap_normalization, ModelConfig().mask_padding) == (
        "paper", "peaks", False)  # fmt: skip
    config = _parse("--heatmap_gaussian", "od_api", "--heatmap_normalization", "boxes", "--mask_padding")
    assert (config.model.heatmap_gaussian, config.model.heatmap_normalization, config.model.mask_padding) == (
        "od_api", "boxes", True)  # fmt: skip
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert _parse("--mask_padding", "false").model.mask_padding is False
    for flag in ("--heatmap_gaussian", "--heatmap_normalization"):
        with pytest.raises(SystemExit):
            _parse(flag, "other")
    config = TrainConfig.from_keywords("d", "m", backbone="tiny", neck="deconv", image_size=64, head_channels=8,
                                       **OD_API_OPTIONS)  # fmt: skip
    runtime = types.SimpleNamespace(use_horovod=False)
    plan = types.SimpleNamespace(global_batch=8, drops=())
    model = build_model(config, runtime, ([1, 2], ["a", "b"]), plan, print)
    assert (model.heatmap_gaussian, model.heatmap_normalization, model.mask_padding) == ("od_api", "boxes", True)
