"""Test helpers shared by every test module (fixtures live in conftest.py)."""

import os

import keras
import numpy as np


def as_numpy(tree):
    """Converts a (nested) structure of backend tensors to numpy arrays."""
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), tree)


def box_iou(a, b):
    """IoU of two xyxy boxes (sequences of 4 numbers)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder``, hidden ones included."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as file:
                files[os.path.relpath(path, folder)] = file.read()
    return files
