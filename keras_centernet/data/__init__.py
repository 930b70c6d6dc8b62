"""keras_centernet.data: COCO / VOC -> TFRecords and the tf.data input pipeline.

Names are imported on first use so that ``import keras_centernet.data`` stays free of TensorFlow (the
converters' and pipeline's modules import it; ``synthetic`` is numpy only).
"""

import importlib

_EXPORTS = {
    "build_dataset": "keras_centernet.data.pipeline",
    "resolve_class_ids": "keras_centernet.data.pipeline",
    "convert_coco": "keras_centernet.data.coco",
    "convert_voc": "keras_centernet.data.voc",
    "ConversionError": "keras_centernet.data.conversion",
    "ConversionSummary": "keras_centernet.data.conversion",
    "read_label_map": "keras_centernet.data.label_map",
    "write_label_map": "keras_centernet.data.label_map",
    "class_ids": "keras_centernet.data.label_map",
    "record_file_pattern": "keras_centernet.data.layout",
    "label_map_path": "keras_centernet.data.layout",
    "make_synthetic_dataset": "keras_centernet.data.synthetic",
    "SYNTHETIC_CLASS_NAMES": "keras_centernet.data.synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_centernet.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
