# The seed recipe's `keras-centernet train` flags, shared by the run scripts (source it, don't run it):
# ResNet-101 v1 + FPN, 512x512, COCO 2017, 140,000 steps (140 epochs of 1000), batch 8 per device, Adam 1e-3 stated
# for a global batch of 64 (--lr_reference_batch): every launcher trains at 1e-3 x global batch / 64, i.e. 1e-3 on
# 8 devices (64 images), 1.25e-4 on one device (8), 2e-3 on 16 (128); x0.1 at steps 90000 and 120000 (the default
# --lr_boundaries for 140,000 steps; shorter runs drop at the same fractions), 1000 warm-up steps from 0, COCO mAP on
# the val split every 10 epochs, performance summary. `keras-centernet train` prints the effective rate first.
# Environment: DATA_DIR (required: a `keras-centernet convert-coco` folder), MODEL_DIR (default: $1),
# BATCH_SIZE (per device, 8), LEARNING_RATE (1e-3) and LR_REFERENCE_BATCH (the global batch it is stated for, 64).
DATA_DIR=${DATA_DIR:?set DATA_DIR to the converted COCO 2017 folder (mscoco_label_map.pbtxt + tfrecords/)}
MODEL_DIR=${MODEL_DIR:-$1}
BATCH_SIZE=${BATCH_SIZE:-8}
LEARNING_RATE=${LEARNING_RATE:-1e-3}
LR_REFERENCE_BATCH=${LR_REFERENCE_BATCH:-64}
RECIPE_ARGS=(
  --data_dir "$DATA_DIR"
  --model_dir "$MODEL_DIR"
  --backbone resnet101
  --neck fpn
  --image_size 512
  --batch_size "$BATCH_SIZE"
  --num_train_steps 140000
  --learning_rate "$LEARNING_RATE"
  --lr_reference_batch "$LR_REFERENCE_BATCH"
  --warmup_steps 1000
  --eval_every 10
  --use_gpu
  --use_performance
)
