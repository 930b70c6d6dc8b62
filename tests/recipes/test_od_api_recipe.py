"""`od_api_r101_fpn_512` against a transcription of the TF Object Detection API config it claims, field by field.

CONFIG transcribes tensorflow/models, research/object_detection/configs/tf2/
centernet_resnet101_v1_fpn_512x512_coco17_tpu-8.config (commit b4d07dfc1064868bb13dadc934af5a15887b9b49); what the
config leaves unset is marked "proto default" and comes from research/object_detection/protos/preprocessor.proto.
"""

import inspect

from keras_centernet.recipes import get

CONFIG = {
    "model": {
        "feature_extractor.type": "resnet_v1_101_fpn",
        "image_resizer.keep_aspect_ratio_resizer": {"min_dimension": 512, "max_dimension": 512,
                                                    "pad_to_max_dimension": True},  # fmt: skip
        "object_detection_task": {"task_loss_weight": 1.0, "offset_loss_weight": 1.0, "scale_loss_weight": 0.1,
                                  "localization_loss": "l1_localization_loss"},  # fmt: skip
        "object_center_params": {"object_center_loss_weight": 1.0, "min_box_overlap_iou": 0.7,
                                 "max_box_predictions": 100, "focal_alpha": 2.0, "focal_beta": 4.0},  # fmt: skip
    },
    "train_config": {
        "batch_size": 128,
        "num_steps": 140000,
        "data_augmentation_options": {
            "random_horizontal_flip": {},
            "random_crop_image": {"min_aspect_ratio": 0.5, "max_aspect_ratio": 1.7, "random_coef": 0.25,
                                  # proto defaults:
                                  "min_object_covered": 1.0, "min_area": 0.1, "max_area": 1.0, "overlap_thresh": 0.3},
            "random_adjust_hue": {"max_delta": 0.02},  # proto default
            "random_adjust_contrast": {"min_delta": 0.8, "max_delta": 1.25},  # proto default
            "random_adjust_saturation": {"min_delta": 0.8, "max_delta": 1.25},  # proto default
            "random_adjust_brightness": {"max_delta": 0.2},  # proto default
            "random_absolute_pad_image": {"max_height_padding": 200, "max_width_padding": 200, "pad_color": [0, 0, 0]},
        },
        "adam_optimizer": {"epsilon": 1e-7, "initial_learning_rate": 1e-3,
                           "schedule": [(90000, 1e-4), (120000, 1e-5)]},  # fmt: skip
        "max_number_of_boxes": 100,
        "fine_tune_checkpoint_type": "classification",
    },
}
TPU_CORES = 8  # "tpu-8": the batch of 128 is 16 per core
HEAD_CHANNELS = 256  # center_net_meta_arch.py make_prediction_net: num_filters=256, kernel_size=3
BACKBONES = {"resnet_v1_101_fpn": ("resnet101", "fpn")}


def _expected_fields():
    """The recipe's fields as the transcription says they must be."""
    model, train = CONFIG["model"], CONFIG["train_config"]
    options, adam = train["data_augmentation_options"], train["adam_optimizer"]
    crop, pad = options["random_crop_image"], options["random_absolute_pad_image"]
    backbone, neck = BACKBONES[model["feature_extractor.type"]]
    resizer = model["image_resizer.keep_aspect_ratio_resizer"]
    assert resizer["min_dimension"] == resizer["max_dimension"] and resizer["pad_to_max_dimension"]  # a letterbox
    assert pad["max_height_padding"] == pad["max_width_padding"] and pad["pad_color"] == [0, 0, 0]
    return {
        "backbone": backbone, "neck": neck,
        "backbone_weights": {"classification": "imagenet"}[train["fine_tune_checkpoint_type"]],
        "head_channels": HEAD_CHANNELS,
        "box_loss_normalization": "boxes",  # l1_localization_loss divided by the number of boxes
        "image_size": resizer["max_dimension"], "max_boxes": train["max_number_of_boxes"],
        "batch_size": train["batch_size"] // TPU_CORES, "lr_reference_batch": train["batch_size"],
        "num_train_steps": train["num_steps"], "learning_rate": adam["initial_learning_rate"],
        "lr_boundaries": tuple(step for step, _ in adam["schedule"]), "warmup_steps": 0,
        "flip_probability": 0.5,  # random_horizontal_flip flips half the images
        "crop": "object", "crop_min_object_covered": crop["min_object_covered"],
        "crop_aspect_range": (crop["min_aspect_ratio"], crop["max_aspect_ratio"]),
        "crop_area_range": (crop["min_area"], crop["max_area"]), "crop_overlap_thresh": crop["overlap_thresh"],
        "crop_keep_probability": crop["random_coef"],
        "hue_delta": options["random_adjust_hue"]["max_delta"],
        "contrast_range": tuple(options["random_adjust_contrast"].values()),
        "saturation_range": tuple(options["random_adjust_saturation"].values()),
        "brightness_delta": options["random_adjust_brightness"]["max_delta"],
        "max_pad": pad["max_height_padding"],
        "scale_range": (1.0, 1.0), "color_jitter": 0.0, "pca_lighting": False,  # not in the config: off
    }  # fmt: skip


def test_every_field_matches_the_od_api_config():
    recipe = get("od_api_r101_fpn_512")
    assert recipe.fields == _expected_fields()
    assert recipe.coco_map == 34.2 and "centernet_resnet101_v1_fpn_512x512_coco17_tpu-8.config" in recipe.source


def test_the_learning_rate_drops_x01_at_each_step_of_the_config():
    adam = CONFIG["train_config"]["adam_optimizer"]
    for index, (_, rate) in enumerate(adam["schedule"], start=1):
        assert abs(rate - adam["initial_learning_rate"] * 0.1**index) < 1e-12  # our drops are x0.1


def test_config_values_without_a_field_are_our_defaults():
    import keras

    from keras_centernet.models.centernet import CenterNet

    task, centre = CONFIG["model"]["object_detection_task"], CONFIG["model"]["object_center_params"]
    compile_defaults = {name: p.default for name, p in inspect.signature(CenterNet.compile).parameters.items()}
    assert compile_defaults["size_loss_weight"] == task["scale_loss_weight"] * task["task_loss_weight"]
    assert compile_defaults["offset_loss_weight"] == task["offset_loss_weight"] * task["task_loss_weight"]
    assert compile_defaults["heatmap_loss_weight"] == centre["object_center_loss_weight"]
    init_defaults = {name: p.default for name, p in inspect.signature(CenterNet.__init__).parameters.items()}
    assert init_defaults["min_overlap"] == centre["min_box_overlap_iou"]
    assert init_defaults["max_detections"] == centre["max_box_predictions"]
    assert keras.optimizers.Adam().epsilon == CONFIG["train_config"]["adam_optimizer"]["epsilon"]
