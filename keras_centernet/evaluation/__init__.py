"""keras_centernet.evaluation: COCO mAP of detections (pycocotools) and COCO ground truth builders.

Names are imported on first use, so ``import keras_centernet.evaluation`` stays light (no pycocotools, no
TensorFlow; reading ground truth from TFRecords imports TensorFlow when called).
"""

from keras_centernet._lazy import lazy_exports

_MODULES = {
    "keras_centernet.evaluation.coco": (
        "STAT_NAMES",
        "detections_to_coco",
        "evaluate_dataset",
        "evaluate_detections",
        "evaluate_model",
        "format_metrics",
        "ground_truth_from_arrays",
        "load_ground_truth",
        "predict_detections",
    ),
    "keras_centernet.evaluation.ground_truth": (
        "categories_from_label_map",
        "ground_truth_from_json",
        "ground_truth_from_tfrecords",
    ),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
