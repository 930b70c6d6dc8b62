"""`paper_resdcn101_512`: the CenterNet paper's ResNet-101 with deformable convolutions ("ResDCN", Zhou et al. 2019,
arXiv 1904.07850, sec. 4 "Deep Layer Aggregation / ResNet" and sec. 5 "Training"; xingyizhou/CenterNet
src/lib/models/networks/resnet_dcn.py, experiments/ctdet_coco_resdcn101.sh, readme/MODEL_ZOO.md).

The model of the paper's "ResNet-101" rows: ResNet-101 from ImageNet, then 3 x [3x3 deformable conv v2 (256, 128, 64)
+ BN + ReLU + 4x4 stride-2 transposed conv initialised to bilinear upsampling + BN + ReLU] (`--neck dcn`,
`models.necks.DCNNeck`), 64-channel heads. Training is the paper's ResNet training, the fields of
`paper_resnet_deconv_512` (which differs only in its plain-conv neck): 512x512, batch 128, Adam 5e-4 scaled
linearly with the batch, 140 epochs, x0.1 at 90 and 120, the paper's augmentation. xingyizhou's released run
(ctdet_coco_resdcn101.sh) used batch 96 at lr 3.75e-4 = 5e-4 x 96 / 128, which our linear rule gives at batch 96.

Reported: 34.6 COCO val2017 AP, the paper's Table 1, row "ResNet-101", column "N.A." (no test augmentation; 36.2
with flip, 39.3 with flip + multi-scale 0.5..1.5), the same three numbers in MODEL_ZOO.md. Protocol: xingyizhou's
test.py with --keep_res, i.e. each image at its ORIGINAL resolution zero-padded to a multiple of 32 (opts.pad = 31),
not a 512 letterbox; scores from a 512 letterbox are not directly comparable.
"""

from keras_centernet.recipes import paper_resnet_deconv_512
from keras_centernet.recipes.recipe import Recipe

RECIPE = Recipe(
    name="paper_resdcn101_512",
    description="the paper's ResDCN-101 512: ResNet-101 (ImageNet) + 3 x [DCNv2 3x3 + bilinear-init 4x4 deconv], "
    "64-ch heads, the paper's ResNet training (as paper_resnet_deconv_512)",
    source="Zhou et al. 2019, Objects as Points (arXiv 1904.07850) Table 1 'ResNet-101', no test augmentation, "
    "xingyizhou test.py --keep_res (original resolution); xingyizhou/CenterNet resnet_dcn.py, MODEL_ZOO.md",
    coco_map=34.6,
    fields={**paper_resnet_deconv_512.RECIPE.fields, "neck": "dcn"},
)
