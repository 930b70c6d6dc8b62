"""The package imports, builds, fits and predicts on Keras-JAX with TensorFlow made unimportable."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys

    class BlockTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError(f"{name} is blocked for this test")
            return None

    sys.meta_path.insert(0, BlockTensorFlow())

    import numpy as np
    import keras
    import keras_centernet
    from keras_centernet.data.synthetic import make_synthetic_dataset

    assert keras.backend.backend() == "jax"
    images, boxes, labels = make_synthetic_dataset(8, 64, max_boxes=4)
    model = keras_centernet.CenterNet(3, backbone="tiny", neck="fpn")
    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(images.astype("float32"), {"boxes": boxes, "labels": labels}, batch_size=4, epochs=2,
                        verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["loss"][1] < history["loss"][0], history["loss"]
    detections = model.predict(images[:2], verbose=0)
    assert detections["boxes"].shape == (2, 100, 4)
    assert "tensorflow" not in sys.modules
    print("NO_TF_OK", history["loss"])
    """
)


@pytest.mark.slow
def test_import_build_fit_predict_without_tensorflow():
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NO_TF_OK" in result.stdout
