"""Train CenterNet on COCO 2017 TFRecords with the seed recipe's flags (a thin wrapper over `keras-centernet train`).

    python examples/train_coco.py --data_dir /data/coco2017 --model_dir runs/r101_fpn \
        --backbone resnet101 --image_size 512 --batch_size 8 --num_train_steps 140000 --learning_rate 1e-3

--learning_rate is the Adam rate for a global batch of --lr_reference_batch (64) images; the run trains at
learning_rate x (batch_size x devices) / lr_reference_batch under any launcher, x0.1 at --lr_boundaries (default
90000,120000 for 140,000 steps, the same fractions for other lengths).

The flags fill a `keras_centernet.training.TrainConfig` (groups: data and output, model, schedule, hardware and
scale, reports, augmentation), saved as MODEL_DIR/train_config.json; `--help` lists them by group.

Multi-device: horovodrun -np 8 -H localhost:8 python examples/train_coco.py --use_horovod ... (see run_scripts/).
"""

import argparse
import sys

from keras_centernet.commands.train import add_arguments, config_from_args, run_config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    config = config_from_args(parser.parse_args(argv))  # a TrainConfig, one record per flag group
    return run_config(config)


if __name__ == "__main__":
    sys.exit(main())
