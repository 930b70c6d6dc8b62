"""One Horovod rank for test_coco_eval_horovod.py: CocoEvalCallback with a Horovod runtime; writes the
rank's epoch logs and how many evaluations it ran to OUT/rank<r>.json."""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import horovod.tensorflow as hvd  # noqa: E402
import keras  # noqa: E402

from keras_centernet.callbacks.coco_eval import CocoEvalCallback  # noqa: E402
from keras_centernet.data.synthetic import make_synthetic_dataset  # noqa: E402
from keras_centernet.distribution import Runtime  # noqa: E402
from keras_centernet.models.centernet import CenterNet  # noqa: E402

hvd.init()
keras.utils.set_random_seed(hvd.rank())  # different weights per rank: only rank 0's evaluation may count
model = CenterNet(3, backbone="tiny", neck="deconv", max_detections=10)
runtime = Runtime(strategy_name="horovod", rank=hvd.rank(), size=hvd.size())
callback = CocoEvalCallback(make_synthetic_dataset(4, image_size=64, max_boxes=8), is_chief=runtime)
callback.set_model(model)
logs = {"loss": 1.0}
callback.on_epoch_end(0, logs)
with open(os.path.join(sys.argv[1], f"rank{hvd.rank()}.json"), "w") as file:
    json.dump({"logs": logs, "evaluations": len(callback.history)}, file)
