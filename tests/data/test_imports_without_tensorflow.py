"""keras_centernet.data and its converters' modules import without TensorFlow (it is imported when used)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CODE = """
import sys
sys.modules["tensorflow"] = None  # any 'import tensorflow' now fails
import keras_centernet.data
from keras_centernet.data import coco, conversion, label_map, layout, voc
from keras_centernet.data import read_label_map, record_file_pattern, write_label_map
from keras_centernet.commands import convert_coco, convert_voc
print("ok")
"""


def test_data_package_imports_without_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
