"""A run folder knows what it holds: the identity of the run in `model_dir`, written beside its weights, and the
check that a command continuing it trains the same thing.

    model_dir/train_config.json   the TrainConfig of the last run that trained here (config.py)
    model_dir/label_map.json      {"data_dir": its real absolute path, "classes": [{"id", "name"}, ...]}: the
                                  dataset and the class map (dataset ids and names, in the model's class order)

`train()` calls `check_run_folder(config, class_map)` once the inputs are checked and the class map is read,
before anything is written, and `write_run_folder(config, class_map)` (chief only) where it saved train_config.json.

The identity of a run: its dataset (`data_dir`, compared as real absolute paths, and its classes: ids and names),
`backbone`, `neck`, `image_size`, `max_boxes`, `head_channels` and `box_loss_normalization`. A command that differs
in any of them is refused with one `InputError` line naming every differing field (old -> new) and the ways on;
everything else (a longer or another schedule, learning rate, batch, augmentation, reports, checkpoints, hardware,
`fine_tune_ckpt`, `backbone_weights`) may change and the run continues.
"""

import glob
import json
import os

from keras_centernet import atomic_files
from keras_centernet.training.config import CONFIG_FILE, MODEL_FILE
from keras_centernet.validation import InputError

LABEL_MAP_FILE = "label_map.json"
IDENTITY_FIELDS = (
    ("data", "data_dir"),
    ("model", "backbone"),
    ("model", "neck"),
    ("data", "image_size"),
    ("data", "max_boxes"),
    ("model", "head_channels"),
    ("model", "box_loss_normalization"),
)
_LISTED_CLASSES = 4  # differing classes named in the line; the rest are counted


def _real_path(path):
    return os.path.normcase(os.path.realpath(os.path.abspath(os.path.expanduser(str(path)))))


def _normalized(name, value):
    """The value compared for an identity field: real absolute paths for data_dir (and a backbone that is a
    folder), ints for the sizes (a "64" of the API equals 64)."""
    if value is None:
        return None
    if name == "data_dir" or name == "backbone" and os.path.isdir(str(value)):
        return _real_path(value)
    if name in ("image_size", "max_boxes", "head_channels"):
        try:
            return int(value)
        except (TypeError, ValueError):
            return value
    return value


def _classes(class_map):
    """[(id, name), ...] from (class ids, class names), {id: name} or [{"id", "name"}, ...] (label_map.json)."""
    if isinstance(class_map, dict):
        return [(int(key), str(value)) for key, value in class_map.items()]
    if all(isinstance(item, dict) for item in class_map):
        return [(int(item["id"]), str(item["name"])) for item in class_map]
    class_ids, class_names = class_map
    return [(int(class_id), str(name)) for class_id, name in zip(class_ids, class_names, strict=True)]


def _read_json(path, model_dir):
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise InputError(
            f"--model_dir {model_dir!r}: {os.path.basename(path)} cannot be read ({error}); it records what the "
            "folder holds: restore it, or use a new --model_dir"
        ) from None


def read_run_folder(model_dir):
    """(saved config dict or None, saved label map dict or None) of `model_dir`; InputError when one exists but is
    not json."""
    saved = []
    for name in (CONFIG_FILE, LABEL_MAP_FILE):
        path = os.path.join(model_dir, name)
        saved.append(_read_json(path, model_dir) if os.path.isfile(path) else None)
    return tuple(saved)


def _describe(value):
    return "none" if value is None else str(value)


def _class_changes(old, new):
    """'classes 3 rectangle, 17 ellipse -> 3 rectangle, 17 cat'-style summary of two [(id, name)] lists, naming
    up to _LISTED_CLASSES differing ids (old name -> new name, `none` where an id is missing on one side)."""
    old_names, new_names = dict(old), dict(new)
    differing = [
        f"{class_id} {_describe(old_names.get(class_id))} -> {_describe(new_names.get(class_id))}"
        for class_id in sorted(set(old_names) | set(new_names))
        if old_names.get(class_id) != new_names.get(class_id)
    ]
    if not differing:  # same ids and names, another order: the model's contiguous classes would mean other ids
        differing = [f"order {[i for i, _ in old][:_LISTED_CLASSES]} -> {[i for i, _ in new][:_LISTED_CLASSES]}"]
    more = f" (+{len(differing) - _LISTED_CLASSES} more)" if len(differing) > _LISTED_CLASSES else ""
    count = f" {len(old)} -> {len(new)} classes," if len(old) != len(new) else ""
    return f"classes{count} {', '.join(differing[:_LISTED_CLASSES])}{more}"


def _classes_difference(saved_label_map, class_map):
    if saved_label_map is None or "classes" not in saved_label_map:
        return []
    old_classes, new_classes = _classes(saved_label_map["classes"]), _classes(class_map)
    return [_class_changes(old_classes, new_classes)] if old_classes != new_classes else []


def run_folder_differences(config, class_map):
    """What the run saved in `config.data.model_dir` holds that `config` and `class_map` ((class ids, class names)
    as `builders.build_class_map` returns) do not: a list of 'FIELD OLD -> NEW' strings in the order of
    IDENTITY_FIELDS (the classes right after data_dir), empty when they agree or the folder holds no run."""
    saved_config, saved_label_map = read_run_folder(config.data.model_dir)
    differences = []
    saved_data_dir = (saved_label_map or {}).get("data_dir")  # a real absolute path, whatever the cwd was
    for group, name in IDENTITY_FIELDS:
        saved_group = (saved_config or {}).get(group)
        new = getattr(getattr(config, group), name)
        if name == "data_dir" and saved_data_dir is not None:
            old = saved_data_dir
        elif isinstance(saved_group, dict) and name in saved_group:
            old = saved_group[name]
        else:
            old = new  # not saved (an older run folder): nothing to compare
        if _normalized(name, old) != _normalized(name, new):
            shown = (old, _real_path(new)) if name == "data_dir" else (old, new)
            differences.append(f"{name} {_describe(shown[0])} -> {_describe(shown[1])}")
        if name == "data_dir":
            differences += _classes_difference(saved_label_map, class_map)
    return differences


def _saved_weights(model_dir):
    """The run's newest weights a new run can start from: model.keras, else the newest checkpoint, else the newest
    resume backup (`None` when it has none yet)."""
    if os.path.isfile(os.path.join(model_dir, MODEL_FILE)):
        return os.path.join(model_dir, MODEL_FILE)
    for pattern in (("checkpoints", "*.keras"), ("backup", "rank_0", "*.weights.h5")):
        found = glob.glob(os.path.join(glob.escape(model_dir), *pattern))
        if found:
            return max(found, key=os.path.getmtime)
    return None


def check_run_folder(config, class_map):
    """Raises InputError (one line) when `config.data.model_dir` holds a run of another configuration: its
    train_config.json or label_map.json differ from `config` / `class_map` ((class ids, class names)) in a field
    of IDENTITY_FIELDS or in the classes. Names every differing field as `name old -> new`. Reads only; call it
    before anything is written to the folder."""
    differences = run_folder_differences(config, class_map)
    if not differences:
        return
    model_dir = config.data.model_dir
    weights = _saved_weights(model_dir)
    start_from = f", start from its weights with --fine_tune_ckpt {weights}" if weights else ""
    raise InputError(
        f"--model_dir {model_dir!r} holds a run of another configuration: {', '.join(differences)}; continue it "
        f"with the saved values{start_from}, or use a new --model_dir"
    )


def write_run_folder(config, class_map):
    """Writes what the run in `config.data.model_dir` is: label_map.json (the dataset's real absolute path and
    its classes) then train_config.json (`config.to_dict()`), each crash-safely (keras_centernet.atomic_files)."""
    model_dir = config.data.model_dir
    classes = [{"id": class_id, "name": name} for class_id, name in _classes(class_map)]
    label_map = {"data_dir": _real_path(config.data.data_dir), "classes": classes}
    atomic_files.write_json(os.path.join(model_dir, LABEL_MAP_FILE), label_map)
    atomic_files.write_json(os.path.join(model_dir, CONFIG_FILE), config.to_dict())
