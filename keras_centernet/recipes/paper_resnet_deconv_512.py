"""`paper_resnet_deconv_512`: the CenterNet paper's ResNet recipe (Zhou et al. 2019, arXiv 1904.07850, sec. 5
"Training", and xingyizhou/CenterNet src/lib/opts.py, datasets/sample/ctdet.py).

ResNet-101 from ImageNet with three 4x4 deconvolutions of 256, 128, 64 channels (the paper puts a deformable 3x3
conv before each; ours is a plain one) and 64-channel heads; box losses averaged over box coordinates. 512x512,
batch 128 on 8 GPUs, Adam 5e-4 (1.25e-4 for batch 32 in opts.py), 140 epochs, x0.1 at epochs 90 and 120 (our
default boundaries are 90/140 and 120/140 of the run: exactly those epochs). Augmentation: random scale
np.arange(0.6, 1.4, 0.1) (0.6 to 1.3) + crop, flip, colour jitter 0.4, PCA lighting with xingyizhou's _eig_val /
_eig_vec (`data.augment.pca_lighting`). Reported: 34.6 COCO val AP for ResNet-101 without test augmentation (Table 1).
"""

from keras_centernet.recipes.recipe import Recipe

RECIPE = Recipe(
    name="paper_resnet_deconv_512",
    description="the paper's ResNet-101 + deconv 512: ImageNet init, 64-ch heads, random scale + crop, flip, "
    "colour jitter + PCA lighting, Adam 5e-4 at 128, 140 epochs, x0.1 at 90/120",
    source="Zhou et al. 2019, Objects as Points (arXiv 1904.07850) sec. 5 and Table 1; xingyizhou/CenterNet opts.py",
    coco_map=34.6,
    fields={
        "backbone": "resnet101",
        "neck": "deconv",
        "backbone_weights": "imagenet",
        "head_channels": 64,
        "box_loss_normalization": "coordinates",
        "image_size": 512,
        "max_boxes": 128,
        "batch_size": 16,
        "lr_reference_batch": 128,
        "learning_rate": 5e-4,
        "num_train_steps": 0,
        "epochs": 140,
        "lr_boundaries": None,
        "warmup_steps": 0,
        "crop": "scale",
        "scale_range": (0.6, 1.3),
        "flip_probability": 0.5,
        "color_jitter": 0.4,
        "pca_lighting": True,
    },
)
