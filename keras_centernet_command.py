"""The `keras-centernet` console script: imports `keras_centernet` without registering its Keras classes
(KERAS_CENTERNET_LAZY_IMPORT=1, see keras_centernet/__init__.py), so `--help` and `--version` import neither Keras
nor TensorFlow and return in well under a second; every command registers them when it starts."""

import os
import sys


def main():
    os.environ["KERAS_CENTERNET_LAZY_IMPORT"] = "1"
    try:
        from keras_centernet.cli import main as cli_main
    finally:
        del os.environ["KERAS_CENTERNET_LAZY_IMPORT"]  # child processes (e.g. Horovod ranks) decide for themselves
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
