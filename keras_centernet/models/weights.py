"""Fine-tuning: load the weights of another checkpoint that match a model by name and shape."""

import os
import warnings

import keras
import numpy as np


def _variables_by_path(model):
    return {variable.path: variable for variable in model.weights}


def _source_weights(path, model):
    """({variable path: numpy value}, source name) of a .keras model file, or of a .weights.h5 file saved from a
    model of the same layout (e.g. the same backbone and neck with another number of classes)."""
    if path.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        return {variable.path: np.asarray(variable.numpy()) for variable in source.weights}, source.name
    if path.endswith(".weights.h5"):
        # A weights file has no architecture: load it into a clone of `model` whose variables are marked NaN first;
        # whatever is no longer NaN came from the file (shape mismatches are skipped by Keras).
        clone = model.__class__.from_config(model.get_config())
        for variable in clone.weights:
            variable.assign(np.full(variable.shape, np.nan, variable.dtype))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clone.load_weights(path, skip_mismatch=True)
        values = {variable.path: np.asarray(variable.numpy()) for variable in clone.weights}
        return {key: value for key, value in values.items() if not np.isnan(value).any()}, os.path.basename(path)
    raise ValueError(f"fine-tune checkpoint {path!r}: expected a .keras or .weights.h5 file")


def load_matching_weights(model, path, print_fn=print):
    """Copies every variable of the checkpoint at `path` whose path and shape match one of `model`'s.

    Use it to start from a model trained on another dataset (another number of classes: the heatmap head's last
    conv is skipped) or from a backbone's weights. Prints what loaded and what did not.

    Returns (loaded, skipped): lists of variable paths of `model`; skipped entries are (path, reason).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"--fine_tune_ckpt: no such file {path!r}")
    source, source_name = _source_weights(path, model)
    loaded, skipped = [], []
    for variable_path, variable in _variables_by_path(model).items():
        value = source.get(variable_path)
        if value is None:
            skipped.append((variable_path, "no variable of this name and shape in the checkpoint"))
        elif tuple(value.shape) != tuple(variable.shape):
            skipped.append((variable_path, f"shape {tuple(value.shape)} in checkpoint vs {tuple(variable.shape)}"))
        else:
            variable.assign(value)
            loaded.append(variable_path)
    print_fn(f"fine-tune: loaded {len(loaded)} of {len(model.weights)} variables from {source_name} ({path})")
    for variable_path, reason in skipped:
        print_fn(f"fine-tune: skipped {variable_path}: {reason}")
    return loaded, skipped
