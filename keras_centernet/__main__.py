"""`python -m keras_centernet`: the `keras-centernet` command line."""

import sys

from keras_centernet.cli import main

sys.exit(main())
