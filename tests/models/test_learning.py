"""It learns: a tiny CenterNet trained on the synthetic set reaches COCO AP50 >= 0.8 on held-out images.

Each run is ~1.5 minutes on 2 CPU cores (64 px, 512 steps of batch 32 on fresh synthetic images, so the model cannot
memorize), evaluated through `evaluation/coco.py` (see `training/synthetic.py`).
"""

import keras
import numpy as np
import pytest

from keras_centernet import CenterNet
from keras_centernet.training.synthetic import synthetic_train_and_test_sets, train_and_evaluate_synthetic


@pytest.fixture(scope="module")
def sets():
    return synthetic_train_and_test_sets()


@pytest.fixture(scope="module")
def float32_result(sets):
    return train_and_evaluate_synthetic("float32", sets)


@pytest.mark.slow
def test_float32_reaches_ap50_on_held_out_images(float32_result):
    history, metrics = float32_result
    assert np.all(np.isfinite(history["loss"]))
    assert history["heatmap_loss"][-1] < 0.5 * history["heatmap_loss"][0]
    assert metrics["AP50"] >= 0.8, metrics


@pytest.mark.slow
def test_mixed_bfloat16_matches_float32(float32_result, sets):
    history, metrics = train_and_evaluate_synthetic("mixed_bfloat16", sets)
    assert np.all(np.isfinite(history["loss"]))
    assert metrics["AP50"] >= 0.8, metrics
    assert abs(metrics["AP50"] - float32_result[1]["AP50"]) <= 0.05, (metrics, float32_result[1])
    # Float32 AP itself moves ~0.02 between seeds: one seed pins bf16 at seed-noise level; the 0.01 parity is
    # measured over seeds by benchmarks/mixed_precision.py. Processor-dependent (issue 18): bf16 rounding and
    # float32 summation order differ between processors (native AVX512-BF16/AMX or emulated), which moves the
    # trajectory like another seed. Measured AP deltas: -0.003 and -0.009 (seeds 1, 2, JAX, docs/training.md),
    # -0.006 (seed 1, TensorFlow, an AVX512-BF16/AMX Xeon: float32 AP 0.589, bf16 0.583): the bound is ~3x those.
    assert abs(metrics["AP"] - float32_result[1]["AP"]) <= 0.025, (metrics, float32_result[1])


@pytest.mark.slow
def test_mixed_float16_trains_without_nan(sets):
    """TensorFlow emulates float16 kernels on CPUs (~12x slower than float32 here), so this run is short: 64 steps
    with loss scaling must stay finite and learn. The full-length float16 parity is benchmarks/mixed_precision.py."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(1)
    (images, boxes, labels), _ = sets
    model = CenterNet(3, backbone="tiny", neck="fpn")
    model.compile(keras.optimizers.Adam(3e-3))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    n = 64 * 16
    history = model.fit(images[:n].astype("float32"), {"boxes": boxes[:n], "labels": labels[:n]},
                        batch_size=16, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"])), history["loss"]
    assert history["heatmap_loss"][1] < history["heatmap_loss"][0]
    assert all(np.isfinite(w).all() for w in model.get_weights())
