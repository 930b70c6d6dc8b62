#!/usr/bin/env bash
# CenterNet ResNet-101 v1 + FPN, 512x512, COCO 2017, mixed precision (--use_amp), one device (no Horovod).
# The 8-device recipe's per-device batch (8); its Adam 1e-3 at global batch 64 becomes 1.25e-4 at this run's global
# batch of 8 (1e-3 x 8 / 64); 140,000 steps are 1/8 of the data of the 8-device run, so expect a lower mAP unless you
# raise --num_train_steps.
#
#   DATA_DIR=/data/coco2017 MODEL_DIR=runs/r101_fpn_amp_1dev bash examples/run_scripts/CenterNet_AMP_1Device.sh
#
# Extra arguments are passed to `keras-centernet train`; add --use_profiler to trace steps for TensorBoard.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe.sh" runs/centernet_r101_fpn_amp_1dev

keras-centernet train "${RECIPE_ARGS[@]}" --use_amp "$@"
