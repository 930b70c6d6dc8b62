"""The learning-rate rule: a rate stated for a reference global batch, scaled linearly to the run's global batch
whatever the launcher; warm-up from 0; drops exactly at the stated steps; --lr_boundaries checked up front."""

import os

import keras
import pytest

from keras_centernet.cli import build_parser, main
from keras_centernet.distribution import Runtime
from keras_centernet.schedules import (
    REFERENCE_BATCH_SIZE,
    make_learning_rate_schedule,
    parse_lr_boundaries,
    scale_lr,
)
from keras_centernet.training import lr_boundaries, train
from keras_centernet.validation import InputError


def _rate(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_rate_is_stated_for_the_reference_global_batch():
    assert REFERENCE_BATCH_SIZE == 64
    assert scale_lr(1e-3, 64) == pytest.approx(1e-3)  # the recipe: 8 devices x 8 images
    assert scale_lr(1e-3, 8) == pytest.approx(1.25e-4)  # one device x 8 images
    assert scale_lr(1e-3, 128) == pytest.approx(2e-3)  # 16 devices x 8 images
    assert scale_lr(1e-3, 16, reference_batch_size=16) == pytest.approx(1e-3)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="global_batch_size"):
            scale_lr(1e-3, bad)
    with pytest.raises(ValueError, match="reference_batch_size"):
        scale_lr(1e-3, 8, reference_batch_size=0)


@pytest.mark.parametrize(
    "runtime, per_device_batch",
    [
        (Runtime(), 64),  # one device
        (Runtime("mirrored", replicas_per_process=8), 8),  # MirroredStrategy over 8 devices
        (Runtime("data_parallel", replicas_per_process=8), 8),  # JAX DataParallel over 8 devices
        (Runtime("horovod", rank=3, size=8, local_rank=3, local_size=8), 8),  # horovodrun -np 8
        (Runtime("horovod", rank=9, size=16, local_rank=1, local_size=8), 4),  # 2 hosts x 8 ranks
    ],
)
def test_same_global_batch_same_schedule_whatever_the_launcher(runtime, per_device_batch):
    global_batch = runtime.global_batch_size(per_device_batch)
    assert global_batch == 64
    schedule = make_learning_rate_schedule(1e-3, global_batch, [90000, 120000], warmup_steps=1000)
    assert schedule.get_config() == make_learning_rate_schedule(
        1e-3, 64, [90000, 120000], warmup_steps=1000
    ).get_config()
    assert _rate(schedule, 1000) == pytest.approx(1e-3)


def test_peak_follows_the_global_batch_not_the_process_count():
    # The old rule (x Horovod ranks) gave 8e-3 for --batch_size 16 --learning_rate 1e-3 under horovodrun -np 8
    # and 1e-3 / 8 of the recipe on 8 GPUs without horovodrun; both are 16 x 8 = 128 images: 2e-3.
    horovod = Runtime("horovod", size=8, local_size=8)
    mirrored = Runtime("mirrored", replicas_per_process=8)
    for runtime in (horovod, mirrored):
        schedule = make_learning_rate_schedule(1e-3, runtime.global_batch_size(16))
        assert _rate(schedule, 0) == pytest.approx(2e-3)


def test_warmup_rises_from_zero_to_the_scaled_peak():
    schedule = make_learning_rate_schedule(1e-3, 128, warmup_steps=10)  # peak 2e-3
    assert [_rate(schedule, s) for s in (0, 5, 10, 11)] == pytest.approx([0.0, 1e-3, 2e-3, 2e-3])
    assert schedule.warmup_start_learning_rate == 0.0


@pytest.mark.parametrize(
    "total_steps, given, expected",
    [
        (140000, None, [90000, 120000]),  # the recipe: exactly where the docs say
        (2000, "1000,1500", [1000, 1500]),
        (10, [3, 7], [3, 7]),
    ],
)
def test_drops_land_exactly_on_the_boundaries(total_steps, given, expected):
    boundaries = lr_boundaries(total_steps, parse_lr_boundaries(given))
    assert boundaries == expected
    schedule = make_learning_rate_schedule(1e-3, 64, boundaries, warmup_steps=2)
    peak = 1e-3
    for i, boundary in enumerate(boundaries):
        before, after = peak * 0.1**i, peak * 0.1 ** (i + 1)
        assert _rate(schedule, boundary - 1) == pytest.approx(before, rel=1e-6)
        assert _rate(schedule, boundary) == pytest.approx(after, rel=1e-6)
        assert schedule.value_at(boundary - 1) == pytest.approx(before) and schedule.value_at(boundary) == (
            pytest.approx(after)
        )
    # What the optimizer uses at that iteration (Keras calls the schedule with optimizer.iterations).
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.iterations.assign(boundaries[0] - 1)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(peak, rel=1e-6)
    optimizer.iterations.assign(boundaries[0])
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(peak * 0.1, rel=1e-6)


def test_explicit_boundaries_past_the_run_are_dropped_with_one_warning():
    lines = []
    assert lr_boundaries(100, [50, 100, 150], warn=lines.append) == [50]
    assert lines == ["train: warning: --lr_boundaries 100,150 >= the run's 100 steps: no drop there"]
    assert lr_boundaries(1, [5], warn=lines.append) == [] and len(lines) == 2
    assert lr_boundaries(100, [10, 20], warn=lines.append) == [10, 20] and len(lines) == 2


def test_parse_lr_boundaries():
    assert parse_lr_boundaries("90000,120000") == [90000, 120000]
    assert parse_lr_boundaries(" 5 , 9 ") == [5, 9]
    assert parse_lr_boundaries("7") == [7]
    assert parse_lr_boundaries(None) is None and parse_lr_boundaries("") is None
    assert parse_lr_boundaries((3, 4)) == [3, 4]


@pytest.mark.parametrize(
    "value, rule",
    [
        ("120000,90000", "must strictly increase"),
        ("90000,90000", "must strictly increase"),
        ("9e4", "integer steps >= 1"),
        ("1.5,3", "integer steps >= 1"),
        ("0,10", "integer steps >= 1"),
        ("-5", "integer steps >= 1"),
        ("10,,20", "integer steps >= 1"),
        ([2.5], "integer steps >= 1"),
    ],
)
def test_bad_lr_boundaries_are_an_input_error(value, rule):
    with pytest.raises(InputError, match="--lr_boundaries") as error:
        parse_lr_boundaries(value)
    assert rule in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"lr_boundaries": "20,10"}, "--lr_boundaries must strictly increase, got '20,10'"),
        ({"lr_boundaries": "ten"}, "--lr_boundaries takes comma-separated integer steps >= 1"),
        ({"lr_reference_batch": 0}, "--lr_reference_batch must be an integer >= 1, got 0"),
    ],
)
def test_train_refuses_bad_lr_flags_before_anything_is_built(tmp_path, kwargs, expected):
    model_dir = str(tmp_path / "model")
    with pytest.raises(InputError) as error:
        train(str(tmp_path / "no_data"), model_dir, **kwargs)
    assert str(error.value).startswith(expected)
    assert not os.path.exists(model_dir)  # checked before the data, the model_dir, the runtime


def test_cli_bad_lr_boundaries_is_one_line_exit_2(tmp_path, capsys):
    code = main(["train", "--data_dir", str(tmp_path), "--model_dir", str(tmp_path / "m"), "--lr_boundaries", "5,x"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("keras-centernet train: error: --lr_boundaries takes comma-separated integer")


def test_train_help_states_the_rule():
    parser = build_parser()
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    help_text = " ".join(train_parser.format_help().split())
    assert "Adam rate for a global batch of --lr_reference_batch images" in help_text
    assert "learning_rate x global batch / lr_reference_batch" in help_text
    assert "whatever the launcher (one device, MirroredStrategy, JAX DataParallel, horovodrun)" in help_text
    args = parser.parse_args(["train", "--data_dir", "d", "--model_dir", "m"])
    assert args.lr_reference_batch == 64 and args.lr_boundaries is None and args.learning_rate == 1e-3


@pytest.mark.tensorflow
@pytest.mark.slow
def test_train_prints_the_effective_rate_first_and_uses_it(synthetic_records, tmp_path, capsys):
    model, _ = train(
        synthetic_records, str(tmp_path / "model"), backbone="tiny", neck="deconv", image_size=64, batch_size=2,
        num_train_steps=2, steps_per_epoch=2, learning_rate=1e-3, lr_reference_batch=4, lr_boundaries="1,5",
        max_boxes=8, use_gpu=False, seed=0,
    )  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("train: single on 1 device(s), float32, global batch 2, 1 epoch(s) of 2 steps = 2 steps")
    assert lines[0].endswith("learning rate 0.0005 (= 0.001 x 2 / 4), x0.1 at steps 1"), lines[0]
    assert lines[1] == "train: warning: --lr_boundaries 5 >= the run's 2 steps: no drop there"
    schedule = model.optimizer._learning_rate
    assert schedule.base_learning_rate == pytest.approx(5e-4) and schedule.boundaries == [1]
    assert int(model.optimizer.iterations) == 2
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(5e-5)
