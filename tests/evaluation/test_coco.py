"""evaluation/coco.py: perfect detections score 1, jittered ones equal pycocotools on the json, ids map."""

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from keras_centernet.evaluation.coco import (
    STAT_NAMES,
    detections_to_coco,
    evaluate_detections,
    format_metrics,
    ground_truth_from_arrays,
)

# COCO's first 80 category ids skip 12, 26, 29, 30, 45, 66, 68, 69, 71, 83.
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def _random_ground_truth(rng, num_images=12, max_boxes=6, class_ids=(3, 17, 90), size=(480, 640)):
    """Padded arrays of random boxes (original pixels) and the COCO dict made from them."""
    height, width = size
    boxes = -np.ones((num_images, max_boxes, 4), np.float32)
    labels = -np.ones((num_images, max_boxes), np.int32)
    for i in range(num_images):
        for m in range(rng.integers(1, max_boxes + 1)):
            w, h = rng.uniform(8, 200), rng.uniform(8, 200)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            boxes[i, m] = (x, y, x + w, y + h)
            labels[i, m] = rng.integers(0, len(class_ids))
    image_ids = [100 + 7 * i for i in range(num_images)]
    names = [f"class_{c}" for c in class_ids]
    gt = ground_truth_from_arrays(boxes, labels, image_ids, class_ids, names, height, width)
    return boxes, labels, image_ids, gt


def _as_detections(boxes, labels, scores=None):
    """Padded ground-truth arrays as decoded model output (num_detections = valid rows first)."""
    num = (labels >= 0).sum(axis=1).astype(np.int32)
    if scores is None:
        scores = np.where(labels >= 0, 1.0, 0.0)
    return boxes, scores, labels, num


def test_perfect_detections_give_ap_one():
    rng = np.random.default_rng(0)
    boxes, labels, image_ids, gt = _random_ground_truth(rng)
    b, s, lab, n = _as_detections(boxes, labels)
    detections = detections_to_coco(b, s, lab, n, image_ids, class_ids=(3, 17, 90))
    metrics = evaluate_detections(detections, gt)
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AR100"] == pytest.approx(1.0)
    assert set(metrics) == set(STAT_NAMES) | {"per_class_AP"}
    assert metrics["per_class_AP"] == pytest.approx({"class_3": 1.0, "class_17": 1.0, "class_90": 1.0})
    table = format_metrics(metrics)
    assert "AP50" in table and "class_90" in table


def test_jittered_detections_match_pycocotools_on_written_json(tmp_path):
    rng = np.random.default_rng(1)
    boxes, labels, image_ids, gt = _random_ground_truth(rng, num_images=20)
    jitter = rng.normal(0, 6, boxes.shape)
    noisy = np.where(labels[..., None] >= 0, boxes + jitter, -1)
    scores = np.where(labels >= 0, rng.uniform(0.05, 1.0, labels.shape), 0.0)
    # Some wrong classes too, so per-class precision is below 1.
    wrong = (labels >= 0) & (rng.uniform(size=labels.shape) < 0.2)
    noisy_labels = np.where(wrong, (labels + 1) % 3, labels)
    num = (labels >= 0).sum(axis=1)
    detections = detections_to_coco(noisy, scores, noisy_labels, num, image_ids, class_ids=(3, 17, 90))
    metrics = evaluate_detections(detections, gt)

    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(detections))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_path))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(str(dt_path)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert 0.2 < metrics["AP"] < 0.95
    for name, value in zip(STAT_NAMES, evaluator.stats):
        assert metrics[name] == float(value), name
    # Paths work as inputs too.
    assert evaluate_detections(str(dt_path), str(gt_path))["AP"] == metrics["AP"]


def test_non_contiguous_ids_and_letterbox_scale_map_back():
    # Contiguous label 11 is COCO id 13 (stop sign), 79 is id 90 (toothbrush).
    boxes = np.array([[[80.0, 40.0, 160.0, 120.0], [0.0, 0.0, 32.0, 64.0], [-1, -1, -1, -1]]])
    scores = np.array([[0.9, 0.5, 0.0]])
    labels = np.array([[11, 79, -1]])
    detections = detections_to_coco(
        boxes, scores, labels, [2], image_ids=[139], class_ids=COCO_IDS, scales=[0.8]
    )
    assert [d["category_id"] for d in detections] == [13, 90]
    assert detections[0]["image_id"] == 139
    np.testing.assert_allclose(detections[0]["bbox"], [100.0, 50.0, 100.0, 100.0])
    np.testing.assert_allclose(detections[1]["bbox"], [0.0, 0.0, 40.0, 80.0])
    assert detections[0]["score"] == pytest.approx(0.9)


def test_padding_and_clipping():
    boxes = np.array([[[-10.0, -5.0, 700.0, 100.0], [1, 1, 2, 2]]])
    detections = detections_to_coco(
        boxes, [[0.7, 0.1]], [[0, 0]], [1], [5], class_ids=[1], heights=[480], widths=[640]
    )
    assert len(detections) == 1  # the row past num_detections is ignored
    np.testing.assert_allclose(detections[0]["bbox"], [0.0, 0.0, 640.0, 100.0])
    with pytest.raises(ValueError, match="class_ids has 1"):
        detections_to_coco(boxes, [[0.7, 0.1]], [[3, 0]], [1], [5], class_ids=[1])


def test_empty_detections_give_zeros():
    rng = np.random.default_rng(2)
    _, _, _, gt = _random_ground_truth(rng, num_images=3)
    metrics = evaluate_detections([], gt)
    assert all(metrics[name] == 0.0 for name in STAT_NAMES)
    assert metrics["per_class_AP"] == {"class_3": 0.0, "class_17": 0.0, "class_90": 0.0}


def test_unknown_image_id_is_a_clear_error():
    rng = np.random.default_rng(3)
    _, _, _, gt = _random_ground_truth(rng, num_images=2)
    bad = [{"image_id": 99999, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.5}]
    with pytest.raises(ValueError, match="99999"):
        evaluate_detections(bad, gt)


def test_class_ids_restrict_evaluation():
    rng = np.random.default_rng(4)
    boxes, labels, image_ids, gt = _random_ground_truth(rng)
    keep = labels == 0  # only class id 3 detected, perfectly
    b, s, lab, n = _as_detections(np.where(keep[..., None], boxes, -1), np.where(keep, labels, -1))
    order = np.argsort(~keep, axis=1, kind="stable")  # valid rows first
    b = np.take_along_axis(b, order[..., None], axis=1)
    s, lab = np.take_along_axis(s, order, axis=1), np.take_along_axis(lab, order, axis=1)
    detections = detections_to_coco(b, s, lab, keep.sum(axis=1), image_ids, class_ids=(3, 17, 90))
    assert evaluate_detections(detections, gt, class_ids=[3])["AP"] == pytest.approx(1.0)
    assert evaluate_detections(detections, gt)["AP"] < 0.5
