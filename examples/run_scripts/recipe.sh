# The seed recipe's `keras-centernet train` flags, shared by the run scripts (source it, don't run it):
# ResNet-101 v1 + FPN, 512x512, COCO 2017, 140,000 steps (140 epochs of 1000), batch 8 per device, Adam 1.25e-4 per
# device (1e-3 at the 8-device global batch of 64; scaled by the device count) dropping x0.1 at 90k and 120k steps
# (64% and 86%), 1000 warm-up steps, COCO mAP on the val split every 10 epochs, performance summary.
# Environment: DATA_DIR (required: a `keras-centernet convert-coco` folder), MODEL_DIR (default: $1),
# BATCH_SIZE (per device, 8), LEARNING_RATE (per device, 1.25e-4).
DATA_DIR=${DATA_DIR:?set DATA_DIR to the converted COCO 2017 folder (mscoco_label_map.pbtxt + tfrecords/)}
MODEL_DIR=${MODEL_DIR:-$1}
BATCH_SIZE=${BATCH_SIZE:-8}
LEARNING_RATE=${LEARNING_RATE:-1.25e-4}
RECIPE_ARGS=(
  --data_dir "$DATA_DIR"
  --model_dir "$MODEL_DIR"
  --backbone resnet101
  --neck fpn
  --image_size 512
  --batch_size "$BATCH_SIZE"
  --num_train_steps 140000
  --learning_rate "$LEARNING_RATE"
  --warmup_steps 1000
  --eval_every 10
  --use_gpu
  --use_performance
)
