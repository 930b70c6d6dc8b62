"""Every recipe loads into a TrainConfig that round-trips json and passes the checks; `train --recipe` applies one
with the flags given winning; `keras-centernet recipes` lists them."""

import dataclasses
import json

import pytest

from keras_centernet import recipes
from keras_centernet.training.config import GROUPS, TrainConfig, group_of

REPORTED_MAP = {
    "od_api_r101_fpn_512": 34.2,
    "seed_r101_fpn_512": 29.8,
    "paper_resnet_deconv_512": 34.6,
    "paper_resdcn101_512": 34.6,
}
# the flags examples/run_scripts/recipe.sh passed before it used --recipe seed_r101_fpn_512
SEED_FLAGS = ["--backbone", "resnet101", "--neck", "fpn", "--image_size", "512", "--batch_size", "8",
              "--num_train_steps", "140000", "--learning_rate", "1e-3", "--lr_reference_batch", "64",
              "--warmup_steps", "1000", "--eval_every", "10", "--use_gpu", "--use_performance"]  # fmt: skip


def _train_args(*arguments):
    from keras_centernet.cli import build_parser

    return build_parser().parse_args(["train", "--data_dir", "d", "--model_dir", "m", *arguments])


def _config(*arguments):
    from keras_centernet.commands.train import config_from_args

    return config_from_args(_train_args(*arguments))


@pytest.mark.parametrize("name", list(REPORTED_MAP))
def test_recipe_loads_into_a_config_that_round_trips_and_passes_the_checks(name):
    from keras_centernet.training.checks import check_augmentation

    recipe = recipes.get(name)
    assert recipe.coco_map == REPORTED_MAP[name] and recipe.description and recipe.source
    config = recipe.config(data_dir="d", model_dir="m")
    for field, value in recipe.fields.items():
        assert getattr(getattr(config, group_of(field)), field) == value, field
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    check_augmentation(config.augmentation)
    assert json.loads(json.dumps(recipe.to_dict()))["fields"]["image_size"] == 512


def test_registry_names_and_unknown_names():
    assert recipes.names() == list(REPORTED_MAP)
    with pytest.raises(KeyError, match="no recipe 'nope'; known: od_api_r101_fpn_512, seed_r101_fpn_512"):
        recipes.get("nope")


def test_train_recipe_flag_gives_the_recipe_config_and_given_flags_win():
    od_api = recipes.get("od_api_r101_fpn_512")
    assert _config("--recipe", "od_api_r101_fpn_512") == od_api.config(data_dir="d", model_dir="m")
    overridden = _config("--recipe", "od_api_r101_fpn_512", "--batch_size", "4", "--crop", "scale")
    assert overridden == od_api.config(data_dir="d", model_dir="m", batch_size=4, crop="scale")
    before = _config("--max_pad", "7", "--recipe", "od_api_r101_fpn_512")  # a flag before --recipe wins too
    assert before.augmentation.max_pad == 7 and before.augmentation.crop == "object"
    assert _config() == TrainConfig().replace(data_dir="d", model_dir="m")  # no recipe: today's defaults
    assert od_api.config().model.backbone_weights == "imagenet"
    assert _config("--recipe", "od_api_r101_fpn_512", "--backbone_weights", "none").model.backbone_weights is None


def test_seed_recipe_is_what_the_run_scripts_passed_as_flags():
    assert _config("--recipe", "seed_r101_fpn_512") == _config(*SEED_FLAGS).replace(recipe="seed_r101_fpn_512")


@pytest.mark.parametrize("name", list(REPORTED_MAP))
def test_the_config_names_its_recipe_and_round_trips_it(name):
    flagged = _config("--recipe", name, "--batch_size", "2")
    assert flagged.model.recipe == name == recipes.get(name).config().model.recipe
    assert json.loads(json.dumps(flagged.to_dict()))["model"]["recipe"] == name
    assert TrainConfig.from_dict(json.loads(json.dumps(flagged.to_dict()))) == flagged
    assert _config().model.recipe is None and TrainConfig().model.recipe is None


def test_paper_recipe_trains_140_epochs_dropping_at_90_and_120():
    from keras_centernet.training.plan import lr_boundaries, plan_steps

    schedule = recipes.get("paper_resnet_deconv_512").config().schedule
    epochs, steps_per_epoch, total = plan_steps(schedule.num_train_steps, schedule.epochs, schedule.steps_per_epoch,
                                                118287, 128)  # COCO train2017 at the paper's batch  # fmt: skip
    assert (epochs, steps_per_epoch) == (140, 118287 // 128)
    assert lr_boundaries(total, schedule.lr_boundaries) == [90 * steps_per_epoch, 120 * steps_per_epoch]


def test_resdcn_recipe_is_the_paper_resnet_recipe_with_the_dcn_neck():
    """The paper trains its ResNet-101 one way; the ResDCN recipe changes the neck only, and names the protocol."""
    resdcn, deconv = recipes.get("paper_resdcn101_512"), recipes.get("paper_resnet_deconv_512")
    assert resdcn.fields == {**deconv.fields, "neck": "dcn"}
    assert resdcn.fields["backbone"] == "resnet101" and resdcn.fields["backbone_weights"] == "imagenet"
    assert "Table 1" in resdcn.source and "--keep_res" in resdcn.source and "no test augmentation" in resdcn.source
    config = _config("--recipe", "paper_resdcn101_512")
    assert config.model.neck == "dcn" and config == resdcn.config(data_dir="d", model_dir="m")


def test_recipes_command_lists_name_map_and_source(capsys):
    from keras_centernet.cli import main

    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name, coco_map in REPORTED_MAP.items():
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert f"{coco_map:.1f}" in line
    assert "centernet_resnet101_v1_fpn_512x512_coco17_tpu-8.config" in out
    assert main(["recipes", "seed_r101_fpn_512"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["batch_size"] == 8
    assert main(["recipes", "nope"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "keras-centernet recipes: error: no recipe 'nope'; known: od_api_r101_fpn_512, seed_r101_fpn_512, "
        "paper_resnet_deconv_512, paper_resdcn101_512"
    ]


def test_every_recipe_field_is_a_train_config_field():
    names = {field.name for record in GROUPS.values() for field in dataclasses.fields(record)}
    for recipe in recipes.RECIPES.values():
        assert set(recipe.fields) <= names, recipe.name


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("crop_aspect_range", (1.7, 0.5), "--crop_aspect_range takes MIN,MAX with 0 < MIN <= MAX"),
        ("crop_area_range", (0.1, 1.5), "--crop_area_range MAX must be <= 1"),
        ("crop_keep_probability", 1.25, r"--crop_keep_probability must be in \[0, 1\]"),
        ("contrast_range", (0.0, 1.25), "--contrast_range takes MIN,MAX"),
        ("hue_delta", 0.7, r"--hue_delta must be in \[0, 0.5\]"),
        ("max_pad", -1, "--max_pad must be >= 0"),
        ("crop", "random", "--crop must be scale or object"),
    ],
)
def test_a_recipe_with_a_bad_augmentation_value_is_refused_in_one_line(field, value, message):
    from keras_centernet.training.checks import check_augmentation
    from keras_centernet.validation import InputError

    config = recipes.get("od_api_r101_fpn_512").config(**{field: value})
    with pytest.raises(InputError, match=message):
        check_augmentation(config.augmentation)
