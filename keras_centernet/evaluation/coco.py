"""COCO box evaluation: detections + COCO-format ground truth -> pycocotools COCOeval -> metrics dict.

Three steps, each usable on its own:

- `detections_to_coco`: decoded model output (boxes xyxy in input pixels, contiguous labels) -> COCO
  results entries (`image_id`, `category_id` = the dataset's own id, `bbox` [x, y, w, h] in original
  pixels, `score`).
- `ground_truth_from_arrays`: padded numpy boxes/labels (the in-memory synthetic set) -> a COCO dict.
- `evaluate_detections`: results + ground truth -> the 12 standard COCO stats and per-class AP.

`evaluate_model` and `evaluate_dataset` chain them for a Keras model on numpy arrays or on the
evaluation `tf.data` pipeline. Only numpy and pycocotools are needed (no TensorFlow).
"""

import contextlib
import copy
import io
import pathlib

import numpy as np

from keras_centernet.preprocessing import Letterbox, boxes_to_original

#: Names of `COCOeval.stats`, in pycocotools' order.
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def _quiet(verbose):
    """Context that swallows pycocotools' prints unless `verbose`."""
    return contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())


def load_ground_truth(ground_truth, verbose=False):
    """Return a pycocotools `COCO` for a COCO dict, a json path or an existing `COCO` object."""
    from pycocotools.coco import COCO

    if isinstance(ground_truth, COCO):
        return ground_truth
    if isinstance(ground_truth, (str, pathlib.Path)):
        import json

        path = pathlib.Path(ground_truth)
        if not path.is_file():
            raise FileNotFoundError(f"ground-truth annotation file not found: {path}")
        try:
            ground_truth = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(ground_truth, dict):
        raise TypeError(
            f"ground_truth must be a COCO dict, a json path or a pycocotools COCO, got {type(ground_truth)}"
        )
    missing = [key for key in ("images", "annotations", "categories") if key not in ground_truth]
    if missing:
        raise ValueError(f"ground truth is missing the COCO key(s) {missing}")
    dataset = copy.copy(ground_truth)
    dataset["annotations"] = [_with_crowd_and_area(ann) for ann in ground_truth["annotations"]]
    coco = COCO()
    coco.dataset = dataset
    with _quiet(verbose):
        coco.createIndex()
    return coco


def _with_crowd_and_area(annotation):
    """COCOeval needs `iscrowd` and `area` on every ground-truth annotation; fill them when absent."""
    if "iscrowd" in annotation and "area" in annotation:
        return annotation
    annotation = dict(annotation)
    annotation.setdefault("iscrowd", 0)
    if "area" not in annotation:
        _, _, width, height = annotation["bbox"]
        annotation["area"] = float(width) * float(height)
    return annotation


def evaluate_detections(detections, ground_truth, class_ids=None, image_ids=None, verbose=False):
    """Score COCO results entries against COCO ground truth with pycocotools (bbox).

    Args:
      detections: list of dicts `{"image_id", "category_id", "bbox": [x, y, w, h], "score"}` (COCO
        results format, original pixels, the dataset's category ids), or a path to such a json.
      ground_truth: COCO dict, annotation json path or `pycocotools.coco.COCO`.
      class_ids: optional category ids to evaluate (default: all categories of the ground truth).
      image_ids: optional image ids to evaluate (default: all images of the ground truth); use it when
        only part of the ground truth's images were run through the model.
      verbose: print pycocotools' progress and summary table.

    Returns:
      dict with the 12 stats of `STAT_NAMES` (floats; -1 where pycocotools has no ground truth for an
      area range) and `"per_class_AP"`: {category name: AP@[.5:.95]} (-1 for a category without ground
      truth). No detections give 0 everywhere instead of pycocotools' crash.
    """
    from pycocotools.cocoeval import COCOeval

    coco_gt = load_ground_truth(ground_truth, verbose=verbose)
    if isinstance(detections, (str, pathlib.Path)):
        import json

        detections = json.loads(pathlib.Path(detections).read_text())
    detections = list(detections)
    cat_ids = sorted(coco_gt.getCatIds()) if class_ids is None else sorted(int(c) for c in class_ids)
    names = {cat["id"]: cat.get("name", str(cat["id"])) for cat in coco_gt.dataset["categories"]}
    unknown = sorted(set(cat_ids) - set(names))
    if unknown:
        raise ValueError(f"class_ids {unknown} are not categories of the ground truth")
    if not detections:
        metrics = {name: 0.0 for name in STAT_NAMES}
        metrics["per_class_AP"] = {names[c]: 0.0 for c in cat_ids}
        return metrics

    known_images = set(coco_gt.getImgIds())
    stray = sorted({d["image_id"] for d in detections} - known_images, key=str)
    if stray:
        raise ValueError(f"{len(stray)} detection image_id(s) are not images of the ground truth, e.g. {stray[:5]}")
    # loadRes adds id/area/segmentation to the entries it is given: hand it copies.
    detections = [dict(d, bbox=[float(v) for v in d["bbox"]]) for d in detections]
    with _quiet(verbose):
        coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.params.catIds = cat_ids
        if image_ids is not None:
            evaluator.params.imgIds = sorted(set(image_ids))
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics = {name: float(value) for name, value in zip(STAT_NAMES, evaluator.stats)}
    metrics["per_class_AP"] = _per_class_ap(evaluator, names)
    return metrics


def _per_class_ap(evaluator, names):
    """AP@[.5:.95] per category from `evaluator.eval["precision"]` [T, R, K, A, M] (area all, 100 dets)."""
    precision = evaluator.eval["precision"]
    area_all = evaluator.params.areaRngLbl.index("all")
    max_dets = len(evaluator.params.maxDets) - 1
    per_class = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k, area_all, max_dets]
        values = values[values > -1]
        per_class[names[cat_id]] = float(values.mean()) if values.size else -1.0
    return per_class


def format_metrics(metrics):
    """The pycocotools-style 12-line table plus per-class AP, as one string."""
    rows = [
        ("Average Precision", "0.50:0.95", "all", 100, "AP"),
        ("Average Precision", "0.50", "all", 100, "AP50"),
        ("Average Precision", "0.75", "all", 100, "AP75"),
        ("Average Precision", "0.50:0.95", "small", 100, "APs"),
        ("Average Precision", "0.50:0.95", "medium", 100, "APm"),
        ("Average Precision", "0.50:0.95", "large", 100, "APl"),
        ("Average Recall", "0.50:0.95", "all", 1, "AR1"),
        ("Average Recall", "0.50:0.95", "all", 10, "AR10"),
        ("Average Recall", "0.50:0.95", "all", 100, "AR100"),
        ("Average Recall", "0.50:0.95", "small", 100, "ARs"),
        ("Average Recall", "0.50:0.95", "medium", 100, "ARm"),
        ("Average Recall", "0.50:0.95", "large", 100, "ARl"),
    ]
    lines = [
        f" {title:<18} ({key:>5}) @[ IoU={iou:<9} | area={area:>6} | maxDets={dets:>3} ] = {metrics[key]:0.3f}"
        for title, iou, area, dets, key in rows
    ]
    per_class = metrics.get("per_class_AP") or {}
    if per_class:
        width = max(len(name) for name in per_class)
        lines.append("")
        lines.append(f" {'class':<{width}}  AP")
        lines.extend(f" {name:<{width}}  {ap:0.3f}" for name, ap in per_class.items())
    return "\n".join(lines)


def detections_to_coco(
    boxes,
    scores,
    labels,
    num_detections,
    image_ids,
    class_ids,
    scales=None,
    heights=None,
    widths=None,
):
    """Decoded detections -> COCO results entries in original pixels and dataset category ids.

    Args:
      boxes: [B, K, 4] xyxy in model-input pixels.
      scores: [B, K]; labels: int [B, K] contiguous 0..C-1; num_detections: int [B] (rows past it are
        padding and ignored; rows with label < 0 are ignored too).
      image_ids: [B] image id of each row (ints, or anything json-serializable the ground truth uses).
      class_ids: sequence, dataset category id of each contiguous class (COCO: 80 ids in 1..90).
      scales: optional [B] letterbox scale (input = original * scale); boxes are divided by it.
      heights, widths: optional [B] original image size; boxes are clipped to it.
      Both go through `preprocessing.boxes_to_original`, the one letterbox inverse.

    Returns:
      list of `{"image_id", "category_id", "bbox": [x, y, w, h], "score"}` with python scalars.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    num_detections = np.asarray(num_detections).astype(np.int64).reshape(-1)
    batch = boxes.shape[0]
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be [batch, K, 4], got shape {boxes.shape}")
    if len(image_ids) != batch or num_detections.shape[0] != batch:
        raise ValueError(
            f"image_ids ({len(image_ids)}) and num_detections ({num_detections.shape[0]}) "
            f"must have one entry per batch row ({batch})"
        )
    boxes = boxes_to_original(boxes, 1.0 if scales is None else scales, heights, widths)
    in_count = np.arange(labels.shape[1])[None, :] < num_detections[:, None]
    labels = np.where(in_count & (labels >= 0), labels, -1)  # rows past num_detections are padding
    category_ids = Letterbox(class_ids=class_ids).class_ids_of(labels)
    results = []
    for i, k in zip(*np.nonzero(labels >= 0)):
        x1, y1, x2, y2 = (float(v) for v in boxes[i, k])
        image_id = image_ids[i]
        results.append(
            {
                "image_id": image_id.item() if isinstance(image_id, np.generic) else image_id,
                "category_id": int(category_ids[i, k]),
                "bbox": [x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)],
                "score": float(scores[i, k]),
            }
        )
    return results


def ground_truth_from_arrays(boxes, labels, image_ids, class_ids, class_names, heights, widths, is_crowd=None):
    """Padded in-memory annotations -> COCO ground-truth dict.

    Args:
      boxes: [N, M, 4] xyxy in original pixels, padding rows -1 (or any row whose label is < 0).
      labels: int [N, M] contiguous 0..C-1, padding -1.
      image_ids: [N] ints; class_ids: [C] dataset category ids; class_names: [C] names.
      heights, widths: [N] (or scalars) original image sizes.
      is_crowd: optional [N, M] bool/int.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    num_images = boxes.shape[0]
    heights = np.broadcast_to(np.asarray(heights), (num_images,))
    widths = np.broadcast_to(np.asarray(widths), (num_images,))
    class_ids = [int(c) for c in class_ids]
    if len(class_names) != len(class_ids):
        raise ValueError(f"{len(class_names)} class_names for {len(class_ids)} class_ids")
    crowd = np.zeros(labels.shape, np.int64) if is_crowd is None else np.asarray(is_crowd).astype(np.int64)
    images, annotations = [], []
    for i in range(num_images):
        image_id = image_ids[i].item() if isinstance(image_ids[i], np.generic) else image_ids[i]
        images.append({"id": image_id, "height": int(heights[i]), "width": int(widths[i])})
        for m in range(labels.shape[1]):
            label = int(labels[i, m])
            if label < 0:
                continue
            if label >= len(class_ids):
                raise ValueError(f"image {image_id}: label {label} outside 0..{len(class_ids) - 1}")
            x1, y1, x2, y2 = (float(v) for v in boxes[i, m])
            width, height = x2 - x1, y2 - y1
            if width <= 0 or height <= 0:
                continue
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": class_ids[label],
                    "bbox": [x1, y1, width, height],
                    "area": width * height,
                    "iscrowd": int(crowd[i, m]),
                }
            )
    categories = [{"id": c, "name": str(n)} for c, n in zip(class_ids, class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def model_classes(model, num_classes=None, class_ids=None, class_names=None):
    """(class_ids, class_names) from explicit arguments, else the model's, else 1..C and their str."""
    if class_ids is None:
        class_ids = getattr(model, "class_ids", None)
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    if num_classes is None:
        num_classes = getattr(model, "num_classes", None)
    if class_ids is None:
        if num_classes is None:
            raise ValueError("pass class_ids: the model has neither class_ids nor num_classes")
        class_ids = list(range(1, int(num_classes) + 1))
    class_ids = [int(c) for c in class_ids]
    if class_names is None:
        class_names = [str(c) for c in class_ids]
    return class_ids, [str(n) for n in class_names]


def predict_detections(model, images, batch_size=8, verbose=0):
    """`model.predict` as numpy: {"boxes" xyxy input pixels [B, K, 4], "scores", "labels", "num_detections"}."""
    outputs = model.predict(images, batch_size=batch_size, verbose=verbose)
    return xyxy_detections(model, outputs, np.shape(images)[1:3])


def xyxy_detections(model, outputs, image_shape):
    """Predict outputs as numpy with boxes in xyxy input pixels whatever the model's `bounding_box_format`
    (`image_shape`: the input's (height, width))."""
    outputs = {key: np.asarray(value) for key, value in outputs.items()}
    if getattr(model, "bounding_box_format", "xyxy") != "xyxy":
        outputs["boxes"] = np.asarray(model.boxes_to_xyxy(outputs["boxes"], tuple(image_shape)))
    return outputs


def evaluate_model(
    model,
    images,
    boxes,
    labels,
    batch_size=8,
    class_ids=None,
    class_names=None,
    verbose=False,
):
    """COCO metrics of `model` on in-memory data whose boxes are in model-input pixels (scale 1).

    Args:
      model: a CenterNet (its `predict` returns decoded detections).
      images: [N, S, S, 3] 0..255; boxes: [N, M, 4] xyxy pixels padded -1; labels: int [N, M] padded -1.
    Returns:
      the dict of `evaluate_detections`.
    """
    images = np.asarray(images)
    class_ids, class_names = model_classes(model, class_ids=class_ids, class_names=class_names)
    image_ids = list(range(1, images.shape[0] + 1))
    height, width = images.shape[1:3]
    ground_truth = ground_truth_from_arrays(
        boxes, labels, image_ids, class_ids, class_names, heights=height, widths=width
    )
    outputs = predict_detections(model, images, batch_size=batch_size, verbose=int(verbose))
    detections = detections_to_coco(
        outputs["boxes"],
        outputs["scores"],
        outputs["labels"],
        outputs["num_detections"],
        image_ids,
        class_ids,
        heights=[height] * len(image_ids),
        widths=[width] * len(image_ids),
    )
    return evaluate_detections(detections, ground_truth, verbose=verbose)


def _to_str(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class ImageIdResolver:
    """Maps an evaluation record's `source_id` to the ground truth's image id.

    Numeric source ids (COCO's) are the image id. Other ids are looked up by the ground truth's
    `source_id`, `file_name` or file-name stem; unknown ones get fresh ids after the largest one, so
    ground truth built from the same records (`ground_truth.py`) resolves identically.
    """

    def __init__(self, ground_truth=None):
        self._lookup = {}
        self._next = 1
        images = []
        if ground_truth is not None:
            dataset = ground_truth.dataset if hasattr(ground_truth, "dataset") else ground_truth
            images = dataset["images"]
        for image in images:
            image_id = image["id"]
            for key in (image.get("source_id"), image.get("file_name"), str(image_id)):
                if key:
                    self._lookup.setdefault(str(key), image_id)
            if image.get("file_name"):
                self._lookup.setdefault(pathlib.PurePath(image["file_name"]).stem, image_id)
            if isinstance(image_id, (int, np.integer)):
                self._next = max(self._next, int(image_id) + 1)

    def __call__(self, source_id):
        key = _to_str(source_id)
        if key in self._lookup:
            return self._lookup[key]
        image_id = int(key) if key.isdigit() else self._next
        self._next = max(self._next, image_id + 1)
        self._lookup[key] = image_id
        return image_id


def _numpy(tree):
    if isinstance(tree, dict):
        return {key: _numpy(value) for key, value in tree.items()}
    return np.asarray(tree)


def evaluate_dataset(
    model,
    dataset,
    ground_truth=None,
    class_ids=None,
    class_names=None,
    progress=False,
    verbose=False,
    return_detections=False,
):
    """COCO metrics of `model` on the evaluation pipeline (`build_dataset(..., training=False)`).

    Args:
      dataset: iterable of `(images, {"boxes", "labels", "image_info": {"source_id", "height", "width",
        "scale"}})`, images letterboxed (top-left, `scale = image_size / max(height, width)`).
      ground_truth: COCO dict / json path / COCO object. None builds it from the dataset's own targets
        (boxes / scale, no crowd flags): fine for synthetic or callback use; for COCO pass the json or
        `ground_truth.ground_truth_from_tfrecords`.
      progress: show a tqdm progress bar.
      return_detections: also return the COCO results entries: `(metrics, detections)`.
    """
    class_ids, class_names = model_classes(model, class_ids=class_ids, class_names=class_names)
    resolver = ImageIdResolver(ground_truth)
    detections, seen_ids, targets_seen = [], [], _TargetsSeen()
    batches = dataset
    if progress:
        from tqdm import tqdm

        batches = tqdm(dataset, desc="evaluate", unit="batch")
    for images, targets in batches:
        info = _numpy(targets["image_info"])
        outputs = xyxy_detections(model, _numpy(model.predict_on_batch(images)), np.shape(images)[1:3])
        image_ids = [resolver(source_id) for source_id in info["source_id"]]
        seen_ids.extend(image_ids)
        detections.extend(
            detections_to_coco(
                outputs["boxes"],
                outputs["scores"],
                outputs["labels"],
                outputs["num_detections"],
                image_ids,
                class_ids,
                scales=info["scale"],
                heights=info["height"],
                widths=info["width"],
            )
        )
        if ground_truth is None:
            targets_seen.add(image_ids, info, targets)
    if ground_truth is None:
        ground_truth = targets_seen.ground_truth(class_ids, class_names)
    metrics = evaluate_detections(detections, ground_truth, image_ids=seen_ids, verbose=verbose)
    return (metrics, detections) if return_detections else metrics


class _TargetsSeen:
    """The evaluation pipeline's own targets, mapped back to original pixels, as COCO ground truth."""

    def __init__(self):
        self.images, self.boxes, self.labels = [], [], []

    def add(self, image_ids, info, targets):
        """One batch: image ids [B], `image_info` (numpy) and targets {"boxes" [B, M, 4] input pixels, "labels"}."""
        boxes = np.asarray(targets["boxes"], np.float64)
        self.boxes.extend(np.where(boxes >= 0, boxes_to_original(boxes, info["scale"]), -1.0))
        self.labels.extend(np.asarray(targets["labels"]))
        self.images.extend(zip(image_ids, info["height"], info["width"]))

    def ground_truth(self, class_ids, class_names):
        if not self.images:
            raise ValueError("the evaluation dataset is empty")
        ids, heights, widths = zip(*self.images)
        return ground_truth_from_arrays(
            np.stack(self.boxes), np.stack(self.labels), list(ids), class_ids, class_names, heights, widths
        )
