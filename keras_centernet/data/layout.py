"""The dataset folder layout shared by the converters and the input pipeline.

A converted dataset folder ``DIR`` holds::

    DIR/mscoco_label_map.pbtxt                      the label map (TF OD API pbtxt)
    DIR/tfrecords/coco_train.record-00000-of-00100  training shards
    DIR/tfrecords/coco_val.record-00000-of-00010    validation shards

the layout of the TF Object Detection API's ``create_coco_tf_record.py``, so folders made by either tool are
interchangeable. ``convert-voc`` writes the same names so every command reads a VOC-made folder like a COCO one.
"""

import os

LABEL_MAP_FILENAME = "mscoco_label_map.pbtxt"
RECORDS_DIRNAME = "tfrecords"
DEFAULT_PREFIX = "coco"


def shard_path(data_dir, split, index, num_shards, prefix=DEFAULT_PREFIX):
    """Path of one shard: ``DIR/tfrecords/{prefix}_{split}.record-{index:05d}-of-{num_shards:05d}``."""
    name = f"{prefix}_{split}.record-{index:05d}-of-{num_shards:05d}"
    return os.path.join(data_dir, RECORDS_DIRNAME, name)


def record_file_pattern(data_dir, split, prefix=DEFAULT_PREFIX):
    """Glob pattern of all shards of a split, e.g. ``DIR/tfrecords/coco_train.record-*``."""
    return os.path.join(data_dir, RECORDS_DIRNAME, f"{prefix}_{split}.record-*")


def label_map_path(data_dir):
    """Path of the label map of a dataset folder: ``DIR/mscoco_label_map.pbtxt``."""
    return os.path.join(data_dir, LABEL_MAP_FILENAME)


def find_label_map(file_pattern):
    """The label map beside a shard pattern, or None.

    Looks for ``mscoco_label_map.pbtxt`` (then any single ``*.pbtxt``) in the folder above the shards' folder
    (the layout above) and in the shards' folder itself.
    """
    records_dir = os.path.dirname(os.path.abspath(file_pattern))
    for folder in (os.path.dirname(records_dir), records_dir):
        candidate = os.path.join(folder, LABEL_MAP_FILENAME)
        if os.path.isfile(candidate):
            return candidate
        others = sorted(name for name in os.listdir(folder) if name.endswith(".pbtxt")) if os.path.isdir(
            folder
        ) else []
        if len(others) == 1:
            return os.path.join(folder, others[0])
    return None
