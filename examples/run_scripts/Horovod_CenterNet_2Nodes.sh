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
DATA_DIR=${DATA_DIR:?set DATA_DIR to the converted COCO 2017 folder (same path on every host)}
MODEL_DIR=${MODEL_DIR:-runs/centernet_r101_fpn_16dev}
HOSTS=${HOSTS:-host1:8,host2:8}
NUM_PROCESSES=${NUM_PROCESSES:-16}
BATCH_SIZE=${BATCH_SIZE:-8}                 # per device
LEARNING_RATE=${LEARNING_RATE:-1.25e-4}     # per device; scaled by the number of devices
# Pick the network interface Horovod uses between hosts, e.g. NETWORK_INTERFACE=eth0 (default: all).
IFACE_ARGS=()
if [ -n "${NETWORK_INTERFACE:-}" ]; then IFACE_ARGS=(--network-interface "$NETWORK_INTERFACE"); fi

horovodrun -np "$NUM_PROCESSES" -H "$HOSTS" ${IFACE_ARGS[@]+"${IFACE_ARGS[@]}"} \
  keras-centernet train \
    --data_dir "$DATA_DIR" \
    --model_dir "$MODEL_DIR" \
    --backbone resnet101 \
    --neck fpn \
    --image_size 512 \
    --batch_size "$BATCH_SIZE" \
    --num_train_steps 140000 \
    --learning_rate "$LEARNING_RATE" \
    --warmup_steps 1000 \
    --eval_every 10 \
    --use_horovod \
    --use_gpu \
    --use_performance \
    "$@"
