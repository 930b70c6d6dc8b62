"""`od_api_r101_fpn_512`: the TF Object Detection API's CenterNet ResNet-101 v1 FPN 512x512 COCO 2017 config.

Transcribed field by field from tensorflow/models,
research/object_detection/configs/tf2/centernet_resnet101_v1_fpn_512x512_coco17_tpu-8.config ("Achieves 34.18 mAP
on COCO17 Val"); fields the config leaves unset take the defaults of research/object_detection/protos/
preprocessor.proto (random_crop_image: min_object_covered 1.0, area 0.1-1.0, overlap_thresh 0.3; random_adjust_hue
0.02, _contrast and _saturation 0.8-1.25, _brightness 0.2). Config values our defaults already match, so they are
no fields here: loss weights (task 1.0, offset 1.0, scale 0.1, center 1.0: `CenterNet.compile`), focal loss alpha 2
beta 4, min_box_overlap_iou 0.7 (`CenterNet(min_overlap=0.7)`), max_box_predictions 100 (`max_detections=100`),
Adam epsilon 1e-7 (Keras's default), no moving average; num_classes comes from the dataset's label map.
tests/recipes/test_od_api_recipe.py holds the transcription this is checked against.
"""

from keras_centernet.recipes.recipe import Recipe

SOURCE = (
    "tensorflow/models research/object_detection/configs/tf2/centernet_resnet101_v1_fpn_512x512_coco17_tpu-8.config"
)

RECIPE = Recipe(
    name="od_api_r101_fpn_512",
    description="TF OD API CenterNet: ResNet-101 v1 FPN 512, ImageNet init, 256-ch heads, box losses per box, "
    "object crop + pad + colour, Adam 1e-3 at batch 128, x0.1 at 90k/120k of 140k",
    source=SOURCE,
    coco_map=34.2,
    fields={
        # model.center_net: feature_extractor "resnet_v1_101_fpn", initialized from an ImageNet classifier
        # (fine_tune_checkpoint_type "classification"); prediction heads 3x3 conv of 256 filters
        # (center_net_meta_arch.make_prediction_net); l1_localization_loss divided by the number of boxes
        "backbone": "resnet101",
        "neck": "fpn",
        "backbone_weights": "imagenet",
        "head_channels": 256,
        "box_loss_normalization": "boxes",
        # image_resizer keep_aspect_ratio_resizer 512/512, pad_to_max_dimension; max_number_of_boxes 100
        "image_size": 512,
        "max_boxes": 100,
        # train_config: batch_size 128 on TPU-8 (16 per core), num_steps 140000, Adam manual_step_learning_rate
        # 1e-3 -> 1e-4 at step 90000 -> 1e-5 at 120000, no warm-up
        "batch_size": 16,
        "lr_reference_batch": 128,
        "num_train_steps": 140000,
        "learning_rate": 1e-3,
        "lr_boundaries": (90000, 120000),
        "warmup_steps": 0,
        # data_augmentation_options, in the config's order: random_horizontal_flip; random_crop_image
        # (min_aspect_ratio 0.5, max_aspect_ratio 1.7, random_coef 0.25); random_adjust_hue, _contrast,
        # _saturation, _brightness (proto defaults); random_absolute_pad_image 200 x 200 px, pad_color 0
        "flip_probability": 0.5,
        "crop": "object",
        "crop_min_object_covered": 1.0,
        "crop_aspect_range": (0.5, 1.7),
        "crop_area_range": (0.1, 1.0),
        "crop_overlap_thresh": 0.3,
        "crop_keep_probability": 0.25,
        "hue_delta": 0.02,
        "contrast_range": (0.8, 1.25),
        "saturation_range": (0.8, 1.25),
        "brightness_delta": 0.2,
        "max_pad": 200,
        # not in the config, so off: the paper's random scale, colour jitter and PCA lighting
        "scale_range": (1.0, 1.0),
        "color_jitter": 0.0,
        "pca_lighting": False,
    },
)
