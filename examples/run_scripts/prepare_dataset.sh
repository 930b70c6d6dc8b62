#!/usr/bin/env bash
# COCO 2017 (or any COCO-format dataset) -> the TFRecord folder that `keras-centernet train` reads:
#   $DATASET_LABEL/mscoco_label_map.pbtxt
#   $DATASET_LABEL/tfrecords/coco_train.record-00000-of-00100 ... (100 shards)
#   $DATASET_LABEL/tfrecords/coco_val.record-00000-of-00010 ...   (10 shards)
#
#   DATASET=/data/coco2017 DATASET_LABEL=/data/coco2017_tfrecords bash examples/run_scripts/prepare_dataset.sh
#
# DATASET holds annotations/instances_{train,val}2017.json and the train2017/ and val2017/ image folders
# (override with TRAIN_JSON, TRAIN_IMAGES, VAL_JSON, VAL_IMAGES). Extra arguments go to both
# `keras-centernet convert-coco` calls, e.g. --workers 16 or --skip-invalid.
set -euo pipefail
DATASET=${DATASET:?set DATASET to the COCO folder (annotations/ and the image folders)}
DATASET_LABEL=${DATASET_LABEL:?set DATASET_LABEL to the output folder}
TRAIN_JSON=${TRAIN_JSON:-$DATASET/annotations/instances_train2017.json}
TRAIN_IMAGES=${TRAIN_IMAGES:-$DATASET/train2017}
VAL_JSON=${VAL_JSON:-$DATASET/annotations/instances_val2017.json}
VAL_IMAGES=${VAL_IMAGES:-$DATASET/val2017}

keras-centernet convert-coco \
  --annotations "$VAL_JSON" \
  --images "$VAL_IMAGES" \
  --output "$DATASET_LABEL" \
  --split val \
  --num-shards 10 \
  "$@"

keras-centernet convert-coco \
  --annotations "$TRAIN_JSON" \
  --images "$TRAIN_IMAGES" \
  --output "$DATASET_LABEL" \
  --split train \
  --num-shards 100 \
  "$@"
