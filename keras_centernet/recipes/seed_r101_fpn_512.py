"""`seed_r101_fpn_512`: the vendor's from-scratch run this project reproduces (docs/training.md, DESIGN.md).

ResNet-101 v1 + FPN at 512x512 on COCO 2017 from random weights, 140,000 steps (140 epochs of 1000) at 8 images per
device on 8 devices (global batch 64), Adam 1e-3 for that global batch dropping x0.1 at steps 90000 and 120000 (the
default boundaries: the same fractions of a shorter run), 1000 warm-up steps, COCO mAP every 10 epochs and a
performance summary; the paper's augmentation and 64-channel heads. Reported: 29.8 COCO mAP in float32 (24.8 with
mixed precision) on 8 MLU370 cards. examples/run_scripts/*.sh run it.
"""

from keras_centernet.recipes.recipe import Recipe

RECIPE = Recipe(
    name="seed_r101_fpn_512",
    description="the vendor's from-scratch run: ResNet-101 FPN 512, batch 8/device x 8, Adam 1e-3 at 64, "
    "x0.1 at 90k/120k of 140k, 1000 warm-up steps, paper augmentation",
    source="vendor run on 8 MLU370 (examples/run_scripts/recipe.sh; 24.8 mAP with mixed precision)",
    coco_map=29.8,
    fields={
        "backbone": "resnet101",
        "neck": "fpn",
        "backbone_weights": None,
        "head_channels": 64,
        "box_loss_normalization": "coordinates",
        "image_size": 512,
        "batch_size": 8,
        "num_train_steps": 140000,
        "learning_rate": 1e-3,
        "lr_reference_batch": 64,
        "lr_boundaries": None,
        "warmup_steps": 1000,
        "eval_every": 10,
        "use_gpu": True,
        "use_performance": True,
    },
)
