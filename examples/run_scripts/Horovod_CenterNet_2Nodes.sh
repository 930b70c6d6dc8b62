#!/usr/bin/env bash
# CenterNet ResNet-101 v1 + FPN, 512x512, COCO 2017 on 2 hosts x 8 devices (16 Horovod processes).
# Needs passwordless ssh from the launching host to every host, the same Python environment and paths on
# all hosts, and DATA_DIR readable from all of them (shared file system or a copy at the same path).
# Per-device batch 8 (128 global): the recipe's 1e-3 at global batch 64 trains at 2e-3 (1e-3 x 128 / 64).
#
#   HOSTS=host1:8,host2:8 DATA_DIR=/shared/coco2017 MODEL_DIR=/shared/runs/r101_16dev \
#     bash examples/run_scripts/Horovod_CenterNet_2Nodes.sh [--use_amp]
#
# Hosts come from HOSTS, or from HOST_A and HOST_B (names or addresses) with SLOTS_PER_HOST (8) slots each;
# NUM_PROCESSES defaults to the sum of the slots. Optional: NETWORK_INTERFACE (the interface Horovod uses
# between the hosts, e.g. eth0; default: the interfaces common to all hosts), SSH_PORT and SSH_IDENTITY_FILE
# (horovodrun -p / -i), HOROVOD_GLOO_TIMEOUT_SECONDS (30: how long a Gloo operation waits for a peer that stopped
# answering before the job fails). scripts/two_host_netns.sh sets all of these for its two namespaces:
#   scripts/two_host_netns.sh up
#   scripts/two_host_netns.sh run env DATA_DIR=... MODEL_DIR=... bash examples/run_scripts/Horovod_CenterNet_2Nodes.sh \
#     --backbone tiny --image_size 64 ...
#   scripts/two_host_netns.sh down
#
# A rank that dies (kill -9, lost host) ends the whole job with a non-zero exit (measured < 120 s, usually
# seconds: tests/distributed/test_rank_failure.py); rerun the same command to resume every rank from
# MODEL_DIR/backup/rank_N.
# Only rank 0 (the first slot of the first host) writes checkpoints, summaries and TensorBoard logs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/recipe.sh" runs/centernet_r101_fpn_16dev
SLOTS_PER_HOST=${SLOTS_PER_HOST:-8}
if [ -z "${HOSTS:-}" ] && [ -n "${HOST_A:-}" ] && [ -n "${HOST_B:-}" ]; then
  HOSTS=$HOST_A:$SLOTS_PER_HOST,$HOST_B:$SLOTS_PER_HOST
fi
HOSTS=${HOSTS:-host1:8,host2:8}
if [ -z "${NUM_PROCESSES:-}" ]; then
  NUM_PROCESSES=0
  IFS=, read -ra SLOTS <<<"$HOSTS"
  for slot in "${SLOTS[@]}"; do NUM_PROCESSES=$((NUM_PROCESSES + ${slot##*:})); done
fi
LAUNCH_ARGS=()
if [ -n "${NETWORK_INTERFACE:-}" ]; then LAUNCH_ARGS+=(--network-interface "$NETWORK_INTERFACE"); fi
if [ -n "${SSH_PORT:-}" ]; then LAUNCH_ARGS+=(-p "$SSH_PORT"); fi
if [ -n "${SSH_IDENTITY_FILE:-}" ]; then LAUNCH_ARGS+=(-i "$SSH_IDENTITY_FILE"); fi
LAUNCH_ARGS+=(--gloo-timeout-seconds "${HOROVOD_GLOO_TIMEOUT_SECONDS:-30}")

horovodrun -np "$NUM_PROCESSES" -H "$HOSTS" "${LAUNCH_ARGS[@]}" \
  keras-centernet train "${RECIPE_ARGS[@]}" --use_horovod "$@"
