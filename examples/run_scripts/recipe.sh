# The seed recipe's `keras-centernet train` arguments, shared by the run scripts (source it, don't run it):
# `--recipe seed_r101_fpn_512` (keras_centernet/recipes/seed_r101_fpn_512.py; `keras-centernet recipes` lists the
# recipes): ResNet-101 v1 + FPN, 512x512, COCO 2017, 140,000 steps (140 epochs of 1000), batch 8 per device, Adam 1e-3
# stated for a global batch of 64 (--lr_reference_batch): every launcher trains at 1e-3 x global batch / 64, i.e. 1e-3
# on 8 devices (64 images), 1.25e-4 on one device (8), 2e-3 on 16 (128); x0.1 at steps 90000 and 120000 (the default
# --lr_boundaries for 140,000 steps; shorter runs drop at the same fractions), 1000 warm-up steps from 0, COCO mAP on
# the val split every 10 epochs, performance summary. `keras-centernet train` prints the effective rate first.
# Environment: DATA_DIR (required: a `keras-centernet convert-coco` folder), MODEL_DIR (default: $1), RECIPE
# (seed_r101_fpn_512; e.g. od_api_r101_fpn_512), and overrides of the recipe when set: BATCH_SIZE (per device),
# LEARNING_RATE and LR_REFERENCE_BATCH (the global batch it is stated for). Arguments after the script's name are
# passed on after these, so they override the recipe too.
DATA_DIR=${DATA_DIR:?set DATA_DIR to the converted COCO 2017 folder (mscoco_label_map.pbtxt + tfrecords/)}
MODEL_DIR=${MODEL_DIR:-$1}
RECIPE_ARGS=(--recipe "${RECIPE:-seed_r101_fpn_512}" --data_dir "$DATA_DIR" --model_dir "$MODEL_DIR")
if [ -n "${BATCH_SIZE:-}" ]; then RECIPE_ARGS+=(--batch_size "$BATCH_SIZE"); fi
if [ -n "${LEARNING_RATE:-}" ]; then RECIPE_ARGS+=(--learning_rate "$LEARNING_RATE"); fi
if [ -n "${LR_REFERENCE_BATCH:-}" ]; then RECIPE_ARGS+=(--lr_reference_batch "$LR_REFERENCE_BATCH"); fi
