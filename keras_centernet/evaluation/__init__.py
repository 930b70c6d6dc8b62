"""keras_centernet.evaluation: COCO mAP of detections (pycocotools) and COCO ground truth builders."""

from keras_centernet.evaluation.coco import (
    STAT_NAMES,
    detections_to_coco,
    evaluate_dataset,
    evaluate_detections,
    evaluate_model,
    format_metrics,
    ground_truth_from_arrays,
)

__all__ = [
    "STAT_NAMES",
    "detections_to_coco",
    "evaluate_dataset",
    "evaluate_detections",
    "evaluate_model",
    "format_metrics",
    "ground_truth_from_arrays",
]
