"""A run folder knows what it holds: write_run_folder saves the config and the label map, check_run_folder refuses
a command of another configuration in one line naming every differing field, and lets a schedule change through."""

import json
import os

import pytest

from keras_centernet.training.config import TrainConfig
from keras_centernet.training.run_folder import (
    LABEL_MAP_FILE,
    check_run_folder,
    run_folder_differences,
    write_run_folder,
)
from keras_centernet.validation import InputError

CLASSES = ([3, 17, 90], ["rectangle", "ellipse", "triangle"])


@pytest.fixture
def folders(tmp_path):
    """(data_dir, other data_dir, model_dir) of a run written with `_config`."""
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir(), other.mkdir()
    model_dir = str(tmp_path / "run")
    write_run_folder(_config(str(data), model_dir), CLASSES)
    return str(data), str(other), model_dir


def _config(data_dir, model_dir, **changes):
    fields = dict(backbone="tiny", image_size=64, max_boxes=8, batch_size=8, num_train_steps=10, seed=0)
    return TrainConfig.from_keywords(data_dir, model_dir, **{**fields, **changes})


def _refusal(config, class_map=CLASSES):
    with pytest.raises(InputError) as error:
        check_run_folder(config, class_map)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_write_run_folder_saves_the_config_and_the_label_map(folders):
    data_dir, _, model_dir = folders
    assert sorted(os.listdir(model_dir)) == [LABEL_MAP_FILE, "train_config.json"]  # no temporaries left
    with open(os.path.join(model_dir, "train_config.json")) as file:
        assert TrainConfig.from_dict(json.load(file)) == _config(data_dir, model_dir)
    with open(os.path.join(model_dir, LABEL_MAP_FILE)) as file:
        assert json.load(file) == {
            "data_dir": os.path.realpath(data_dir),
            "classes": [{"id": 3, "name": "rectangle"}, {"id": 17, "name": "ellipse"}, {"id": 90, "name": "triangle"}],
        }


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"num_train_steps": 1000, "epochs": 7, "steps_per_epoch": 3, "lr_boundaries": "5,8", "warmup_steps": 2},
        {"learning_rate": 5e-4, "lr_reference_batch": 16, "batch_size": 2, "seed": 4},
        {"flip_probability": 0.0, "crop": "object", "scale_range": (1.0, 1.0)},
        {"eval_every": 1, "use_performance": True, "verbose": 0, "keep_checkpoints": 1, "backup_every_minutes": 0},
        {"use_amp": True, "use_xla": True, "use_gpu": False},
        {"fine_tune_ckpt": "other.keras", "backbone_weights": "imagenet", "recipe": "seed_r101_fpn_512"},
        {"image_size": "64", "max_boxes": 8.0},  # the same values spelled otherwise
    ],
)
def test_a_schedule_augmentation_report_or_hardware_change_continues_the_run(folders, changes):
    data_dir, _, model_dir = folders
    check_run_folder(_config(data_dir, model_dir, **changes), CLASSES)
    check_run_folder(_config(data_dir + os.sep, model_dir, **changes), {3: "rectangle", 17: "ellipse", 90: "triangle"})


def test_the_same_data_dir_spelled_relative_is_the_same_dataset(folders, monkeypatch):
    data_dir, _, model_dir = folders
    monkeypatch.chdir(os.path.dirname(data_dir))
    check_run_folder(_config("data", model_dir), CLASSES)
    check_run_folder(_config(os.path.join("..", os.path.basename(os.path.dirname(data_dir)), "data"), model_dir),
                     CLASSES)  # fmt: skip


@pytest.mark.parametrize(
    "changes, difference",
    [
        ({"image_size": 96}, "image_size 64 -> 96"),
        ({"backbone": "resnet18"}, "backbone tiny -> resnet18"),
        ({"neck": "deconv"}, "neck fpn -> deconv"),
        ({"max_boxes": 16}, "max_boxes 8 -> 16"),
        ({"head_channels": 256}, "head_channels 64 -> 256"),
        ({"box_loss_normalization": "boxes"}, "box_loss_normalization coordinates -> boxes"),
    ],
)
def test_each_identity_field_is_named_with_old_and_new(folders, changes, difference):
    data_dir, _, model_dir = folders
    assert _refusal(_config(data_dir, model_dir, **changes)) == (
        f"--model_dir {model_dir!r} holds a run of another configuration: {difference}; continue it with the saved "
        "values, or use a new --model_dir"
    )


def test_every_difference_is_in_one_line_with_the_newest_weights_to_start_from(folders):
    data_dir, other, model_dir = folders
    config = _config(other, model_dir, image_size=96, backbone="resnet18")
    checkpoints = os.path.join(model_dir, "checkpoints")
    os.makedirs(checkpoints)
    for epoch, mtime in ((1, 100), (2, 200)):
        path = os.path.join(checkpoints, f"epoch_00{epoch}.keras")
        open(path, "wb").close()
        os.utime(path, (mtime, mtime))
    tail = "; continue it with the saved values, start from its weights with --fine_tune_ckpt {}, or use a new "
    tail += "--model_dir"
    expected = (
        f"--model_dir {model_dir!r} holds a run of another configuration: data_dir {os.path.realpath(data_dir)} -> "
        f"{os.path.realpath(other)}, backbone tiny -> resnet18, image_size 64 -> 96"
    )
    assert _refusal(config) == expected + tail.format(os.path.join(checkpoints, "epoch_002.keras"))
    open(os.path.join(model_dir, "model.keras"), "wb").close()  # a finished run: its final model
    assert _refusal(config) == expected + tail.format(os.path.join(model_dir, "model.keras"))


@pytest.mark.parametrize(
    "class_map, difference",
    [
        (([3, 17, 90], ["rectangle", "cat", "triangle"]), "classes 17 ellipse -> cat"),
        (([1, 2, 3], ["cat", "dog", "bird"]),
         "classes 1 none -> cat, 2 none -> dog, 3 rectangle -> bird, 17 ellipse -> none (+1 more)"),
        (([3, 17], ["rectangle", "ellipse"]), "classes 3 -> 2 classes, 90 triangle -> none"),
        (([3, 90, 17], ["rectangle", "triangle", "ellipse"]), "classes order [3, 17, 90] -> [3, 90, 17]"),
    ],
)  # fmt: skip
def test_another_label_map_in_the_same_data_dir_is_refused(folders, class_map, difference):
    data_dir, _, model_dir = folders
    assert f"another configuration: {difference}; continue" in _refusal(_config(data_dir, model_dir), class_map)


def test_an_empty_or_new_model_dir_holds_no_run(tmp_path):
    check_run_folder(_config(str(tmp_path), str(tmp_path / "new")), CLASSES)
    (tmp_path / "empty").mkdir()
    assert run_folder_differences(_config(str(tmp_path), str(tmp_path / "empty")), CLASSES) == []


def test_a_folder_of_an_older_version_is_compared_on_what_it_saved(folders):
    data_dir, other, model_dir = folders
    os.remove(os.path.join(model_dir, LABEL_MAP_FILE))  # train_config.json only: no classes to compare
    with open(os.path.join(model_dir, "train_config.json")) as file:
        saved = json.load(file)
    del saved["model"]["head_channels"]  # a field the older version did not save
    with open(os.path.join(model_dir, "train_config.json"), "w") as file:
        json.dump(saved, file)
    check_run_folder(_config(data_dir, model_dir, head_channels=256), ([1], ["cat"]))
    assert run_folder_differences(_config(other, model_dir, neck="deconv"), CLASSES) == [
        f"data_dir {data_dir} -> {os.path.realpath(other)}",
        "neck fpn -> deconv",
    ]


def test_an_unreadable_saved_config_is_one_line(folders):
    data_dir, _, model_dir = folders
    with open(os.path.join(model_dir, "train_config.json"), "w") as file:
        file.write("{not json")
    message = _refusal(_config(data_dir, model_dir))
    assert message.startswith(f"--model_dir {model_dir!r}: train_config.json cannot be read (")
    assert message.endswith("restore it, or use a new --model_dir")
