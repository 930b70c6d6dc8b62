"""Fine-tuning: load the weights of another checkpoint that match a model by name and shape.

A checkpoint is a CenterNet ``.keras`` file (any input size, another number of classes), a ``.weights.h5`` file of
the same layout, or a keras-hub preset (``keras_hub:PRESET`` or a preset folder: its backbone's weights, for a
CenterNet whose backbone is that preset's architecture).
"""

import os
import warnings

import keras
import numpy as np

from keras_centernet.models.keras_hub_backbone import is_keras_hub_name, preset_of, preset_weights

NOT_IN_CHECKPOINT = "not in the checkpoint"
SHAPE_DIFFERS = "another shape in the checkpoint"


def _variables_by_path(model):
    return {variable.path: variable for variable in model.weights}


def _weights_file_values(path, model):
    """A weights file has no architecture: load it into a clone of `model` whose variables are marked NaN first;
    whatever is no longer NaN came from the file (shape mismatches are skipped by Keras)."""
    clone = model.__class__.from_config(model.get_config())
    for variable in clone.weights:
        variable.assign(np.full(variable.shape, np.nan, variable.dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clone.load_weights(path, skip_mismatch=True)
    values = {variable.path: np.asarray(variable.numpy()) for variable in clone.weights}
    return {key: value for key, value in values.items() if not np.isnan(value).any()}


def _source_weights(path, model):
    """({variable path: numpy value}, source description) of a .keras model file, a .weights.h5 file saved from a
    model of the same layout, or a keras-hub preset."""
    if is_keras_hub_name(path):
        return preset_weights(path), f"keras-hub preset {preset_of(path)}"
    if path.endswith(".keras"):
        source = keras.saving.load_model(path, compile=False)
        return {variable.path: np.asarray(variable.numpy()) for variable in source.weights}, path
    if path.endswith(".weights.h5"):
        return _weights_file_values(path, model), path
    raise ValueError(
        f"--fine_tune_ckpt {path!r}: expected a .keras or .weights.h5 file, keras_hub:PRESET or a keras-hub preset "
        f"folder"
    )


def check_fine_tune_ckpt(path, argument="--fine_tune_ckpt"):
    """`path` when it names a checkpoint `load_matching_weights` can read (an existing file, a keras-hub preset
    folder, or ``keras_hub:PRESET``), else FileNotFoundError naming `argument`."""
    if not path or not (is_keras_hub_name(path) or os.path.isfile(path)):
        raise FileNotFoundError(f"{argument} {path!r}: no such file or keras-hub preset folder")
    return path


def _parts_by_path(model):
    """{variable path: name of the top-level layer that holds it} (backbone model, neck, heads)."""
    parts = {}
    for layer in model.layers:
        for variable in layer.weights:
            parts.setdefault(variable.path, layer.name)
    return parts


def skipped_summary(model, skipped):
    """One phrase per (part, reason) group of skipped (variable path, reason) pairs: the paths when a group has
    at most 3, else their number; '' when nothing was skipped."""
    parts = _parts_by_path(model)
    groups = {}
    for variable_path, reason in skipped:
        kind = reason.split(":")[0]
        groups.setdefault((parts.get(variable_path, "model"), kind), []).append((variable_path, reason))
    phrases = []
    for (part, kind), entries in groups.items():
        if len(entries) <= 3:
            listed = ", ".join(variable_path for variable_path, _ in entries)
            phrases.append(f"{listed} ({entries[0][1]})")
        else:
            phrases.append(f"{part}: {len(entries)} arrays ({kind})")
    return "; ".join(phrases)


def load_matching_weights(model, path, print_fn=print):
    """Copies every variable of the checkpoint at `path` whose path and shape match one of `model`'s.

    Use it to start from a model trained on another dataset or input size (another number of classes: the
    heatmap head's last conv is skipped), or from a keras-hub preset's backbone. Prints one line: N of M weight
    arrays loaded, and which were skipped (grouped by part: backbone, neck, heads) and why.

    Returns (loaded, skipped): lists of variable paths of `model`; skipped entries are (path, reason).
    """
    check_fine_tune_ckpt(path)
    source, source_name = _source_weights(os.fspath(path), model)
    loaded, skipped = [], []
    for variable_path, variable in _variables_by_path(model).items():
        value = source.get(variable_path)
        if value is None:
            skipped.append((variable_path, NOT_IN_CHECKPOINT))
        elif tuple(value.shape) != tuple(variable.shape):
            skipped.append((variable_path, f"{SHAPE_DIFFERS}: {tuple(value.shape)} vs {tuple(variable.shape)}"))
        else:
            variable.assign(value)
            loaded.append(variable_path)
    line = f"fine-tune: loaded {len(loaded)} of {len(model.weights)} weight arrays from {source_name}"
    summary = skipped_summary(model, skipped)
    print_fn(f"{line}; skipped {summary}" if summary else line)
    return loaded, skipped
