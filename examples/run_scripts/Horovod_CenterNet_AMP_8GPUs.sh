#!/usr/bin/env bash
# CenterNet ResNet-101 v1 + FPN, 512x512, COCO 2017, mixed precision (--use_amp), 8 devices on one host (Horovod).
# Recipe seed_r101_fpn_512 (--recipe; `keras-centernet recipes` lists them): 140,000 steps (140 epochs of 1000),
# batch 8 per device (64 global), Adam 1e-3 stated for global batch 64
# (--lr_reference_batch 64; other device counts scale it by their global batch / 64) dropping x0.1 at steps 90000
# and 120000, 1000 warm-up steps, COCO mAP on the val split every 10 epochs.
# Works with any 8 devices TensorFlow sees (GPUs or pluggable devices).
#
#   DATA_DIR=/data/coco2017 MODEL_DIR=runs/r101_fpn_amp_8dev bash examples/run_scripts/Horovod_CenterNet_AMP_8GPUs.sh
#
# DATA_DIR: folder from `keras-centernet convert-coco` (mscoco_label_map.pbtxt + tfrecords/coco_*.record-*).
# Extra arguments are passed to `keras-centernet train` (e.g. --num_train_steps 1000 for a smoke run).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe.sh" runs/centernet_r101_fpn_amp_8dev
NUM_DEVICES=${NUM_DEVICES:-8}

horovodrun -np "$NUM_DEVICES" -H "localhost:$NUM_DEVICES" \
  keras-centernet train "${RECIPE_ARGS[@]}" --use_horovod --use_amp "$@"
