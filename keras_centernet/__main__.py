"""`python -m keras_centernet`: the `keras-centernet` command line (the package is imported whole first, so
`--help` takes seconds here; the installed `keras-centernet` script is the fast one)."""

import sys

from keras_centernet.cli import main

sys.exit(main())
