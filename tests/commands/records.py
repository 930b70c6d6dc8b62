"""Helpers for the command tests: synthetic images as a dataset folder, deepforest's VOC annotations."""

import importlib.util
import os
import shutil

import numpy as np
import pytest

from keras_centernet.data.synthetic import SYNTHETIC_CLASS_NAMES

# Non-contiguous dataset ids for the three synthetic classes, so every test maps ids back.
SYNTHETIC_IDS = (3, 17, 90)


def write_synthetic_split(data_dir, split, images, boxes, labels, first_id=1):
    """The library's synthetic split writer with this module's non-contiguous ids (SYNTHETIC_IDS)."""
    from keras_centernet.data import synthetic

    synthetic.write_synthetic_split(data_dir, split, images, boxes, labels, class_ids=SYNTHETIC_IDS, first_id=first_id)
    return data_dir


def deepforest_data(names=("OSBS_029", "SOAP_061")):
    """Folder of deepforest's sample data (VOC xml + images); skips the test when deepforest is absent.

    Only images with at most 100 trees: COCOeval keeps 100 detections per image, so larger ones cannot
    score AP 1 even when perfect.
    """
    spec = importlib.util.find_spec("deepforest")
    if spec is None or spec.origin is None:
        pytest.skip("deepforest is not installed (pip install --no-deps deepforest)")
    return os.path.join(os.path.dirname(spec.origin), "data"), names


def copy_deepforest(destination):
    """Copy the chosen deepforest xml files and their images into `destination`; returns the xml paths."""
    source, names = deepforest_data()
    os.makedirs(destination, exist_ok=True)
    paths = []
    for name in names:
        for file_name in os.listdir(source):
            if os.path.splitext(file_name)[0] == name:
                shutil.copy(os.path.join(source, file_name), destination)
        paths.append(os.path.join(destination, f"{name}.xml"))
    return paths


def save_tiny_model(path, num_classes=3, class_ids=SYNTHETIC_IDS, class_names=SYNTHETIC_CLASS_NAMES, **kwargs):
    """Save an untrained tiny CenterNet as .keras; returns the model."""
    import keras

    from keras_centernet.models.centernet import CenterNet

    keras.utils.set_random_seed(kwargs.pop("seed", 0))
    kwargs.setdefault("max_detections", 20)
    model = CenterNet(
        num_classes,
        backbone="tiny",
        neck="deconv",
        class_ids=list(class_ids),
        class_names=list(class_names),
        **kwargs,
    )
    model.save(path)
    return model


def pixels_changed(before, after):
    """bool [H, W]: pixels that differ between two images."""
    return np.any(np.asarray(before) != np.asarray(after), axis=-1)
