"""Shared test fixtures: quiet TensorFlow logs, precision-policy reset, synthetic data and tiny models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

from keras_centernet.data.synthetic import make_synthetic_dataset  # noqa: E402

BACKEND = keras.backend.backend()

if BACKEND == "jax":  # JAX compiles each new shape (even weight initializers): keep compiled programs across runs
    import jax

    jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/keras-centernet/jax-compilation"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends with the float32 policy, whatever it set."""
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def synthetic_64():
    """24 synthetic 64x64 images: (images uint8 [24, 64, 64, 3], boxes [24, 8, 4], labels [24, 8])."""
    return make_synthetic_dataset(24, image_size=64, max_boxes=8, seed=7)


@pytest.fixture
def tiny_model():
    """Factory for a small CenterNet (tiny backbone, deconv neck) that trains in seconds on CPU."""

    def make(num_classes=3, **kwargs):
        keras.utils.set_random_seed(kwargs.pop("seed", 0))
        from keras_centernet import CenterNet

        kwargs.setdefault("backbone", "tiny")
        kwargs.setdefault("neck", "deconv")
        return CenterNet(num_classes, **kwargs)

    return make



@pytest.fixture(scope="session")
def synthetic_records(tmp_path_factory):
    """A converted dataset folder of 64 px synthetic images: 48 train (2 shards), 16 val; ids (3, 17, 90)."""
    from keras_centernet.data.synthetic import write_synthetic_split

    data_dir = str(tmp_path_factory.mktemp("synthetic_records"))
    images, boxes, labels = make_synthetic_dataset(48, image_size=64, max_boxes=8, seed=11)
    write_synthetic_split(data_dir, "train", images, boxes, labels, class_ids=(3, 17, 90), num_shards=2)
    images, boxes, labels = make_synthetic_dataset(16, image_size=64, max_boxes=8, seed=12)
    write_synthetic_split(data_dir, "val", images, boxes, labels, class_ids=(3, 17, 90), first_id=1000)
    return data_dir
