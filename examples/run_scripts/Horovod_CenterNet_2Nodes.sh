#!/usr/bin/env bash
# CenterNet ResNet-101 v1 + FPN, 512x512, COCO 2017 on 2 hosts x 8 devices (16 Horovod processes).
# Needs passwordless ssh from the launching host to every host, the same Python environment and paths on
# all hosts, and DATA_DIR readable from all of them (shared file system or a copy at the same path).
# Per-device batch 8 (128 global); the learning rate is scaled by the 16 devices (2e-3 peak).
#
#   HOSTS=host1:8,host2:8 DATA_DIR=/shared/coco2017 MODEL_DIR=/shared/runs/r101_16dev \
#     bash examples/run_scripts/Horovod_CenterNet_2Nodes.sh [--use_amp]
#
# Only rank 0 (the first slot of the first host) writes checkpoints, summaries and TensorBoard logs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe.sh" runs/centernet_r101_fpn_16dev
HOSTS=${HOSTS:-host1:8,host2:8}
NUM_PROCESSES=${NUM_PROCESSES:-16}
# Pick the network interface Horovod uses between hosts, e.g. NETWORK_INTERFACE=eth0 (default: all).
IFACE_ARGS=()
if [ -n "${NETWORK_INTERFACE:-}" ]; then IFACE_ARGS=(--network-interface "$NETWORK_INTERFACE"); fi

horovodrun -np "$NUM_PROCESSES" -H "$HOSTS" ${IFACE_ARGS[@]+"${IFACE_ARGS[@]}"} \
  keras-centernet train "${RECIPE_ARGS[@]}" --use_horovod "$@"
