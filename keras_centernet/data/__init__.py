"""keras_centernet.data: COCO / VOC -> TFRecords and the tf.data input pipeline.

Names are imported on first use so that ``import keras_centernet.data`` stays free of TensorFlow (the
converters' and pipeline's modules import it; ``synthetic`` is numpy only).
"""

from keras_centernet._lazy import lazy_exports

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
    "encode_example": "keras_centernet.data.tfrecord",
    "parse_example": "keras_centernet.data.tfrecord",
    "make_synthetic_dataset": "keras_centernet.data.synthetic",
    "write_synthetic_split": "keras_centernet.data.synthetic",
    "SYNTHETIC_CLASS_NAMES": "keras_centernet.data.synthetic",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
