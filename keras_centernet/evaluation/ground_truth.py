"""COCO ground truth for evaluation: from an annotation json, or from the val TFRecords when there is none.

The TFRecords (TF Object Detection API schema) hold what COCOeval needs: original image size, normalized
boxes, ORIGINAL category ids, `is_crowd` and `area`. Image ids follow `coco.ImageIdResolver`: a numeric
`image/source_id` (COCO's) is the image id, others get sequential ids, and every image entry keeps its
`source_id` so `evaluate_dataset` maps records back to the same ids.
"""

import glob
import pathlib

import numpy as np

from keras_centernet.evaluation.coco import ImageIdResolver, load_ground_truth


def ground_truth_from_json(path):
    """Read a COCO annotation json (e.g. instances_val2017.json) -> COCO dict, with a clear error."""
    return load_ground_truth(path).dataset


def categories_from_label_map(label_map):
    """COCO `categories` list from a label map: a .pbtxt path, a list of {"id", "name"} or {id: name}."""
    if isinstance(label_map, (str, pathlib.Path)):
        from keras_centernet.data.label_map import read_label_map

        label_map = read_label_map(label_map)
    if isinstance(label_map, dict):
        items = [{"id": int(k), "name": str(v)} for k, v in label_map.items()]
    else:
        items = []
        for item in label_map:
            if isinstance(item, dict):
                name = item.get("display_name") or item.get("name") or str(item["id"])
                items.append({"id": int(item["id"]), "name": str(name)})
            else:  # (id, name) pairs or objects with .id / .name
                item_id, name = (item.id, item.name) if hasattr(item, "id") else item
                items.append({"id": int(item_id), "name": str(name)})
    return sorted(items, key=lambda c: c["id"])


# tf.Example keys of the TF Object Detection API schema (the ones evaluation reads).
_KEYS = {
    "source_id": "image/source_id",
    "file_name": "image/filename",
    "height": "image/height",
    "width": "image/width",
    "xmin": "image/object/bbox/xmin",
    "ymin": "image/object/bbox/ymin",
    "xmax": "image/object/bbox/xmax",
    "ymax": "image/object/bbox/ymax",
    "labels": "image/object/class/label",
    "is_crowd": "image/object/is_crowd",
    "area": "image/object/area",
}


def parse_annotations(serialized):
    """One serialized tf.Example -> dict of its annotation fields as python/numpy values (no image decode).

    Keys: source_id, file_name (str), height, width (int), xmin, ymin, xmax, ymax (normalized float
    arrays), labels (original category ids), is_crowd, area (arrays, empty when absent).
    """
    import tensorflow as tf

    features = tf.train.Example.FromString(serialized).features.feature

    def values(key):
        feature = features.get(_KEYS[key])
        if feature is None:
            return []
        kind = feature.WhichOneof("kind")
        return list(getattr(feature, kind).value) if kind else []

    missing = [_KEYS[k] for k in ("height", "width") if not values(k)]
    if missing:
        raise ValueError(f"missing {missing}")
    source_id = values("source_id") or values("file_name") or [b""]
    file_name = values("file_name") or source_id
    record = {
        "source_id": source_id[0].decode("utf-8"),
        "file_name": file_name[0].decode("utf-8"),
        "height": int(values("height")[0]),
        "width": int(values("width")[0]),
    }
    for key in ("xmin", "ymin", "xmax", "ymax", "area"):
        record[key] = np.asarray(values(key), np.float64)
    for key in ("labels", "is_crowd"):
        record[key] = np.asarray(values(key), np.int64)
    if not record["source_id"]:
        raise ValueError(f"{_KEYS['source_id']} and {_KEYS['file_name']} are empty")
    return record


def _read_records(files, parse_record):
    """Yield `parse_record(serialized)` for every record of `files`, naming file and record on failure."""
    import tensorflow as tf

    for path in files:
        for index, serialized in enumerate(tf.data.TFRecordDataset(path)):
            try:
                yield parse_record(serialized.numpy())
            except Exception as error:  # noqa: BLE001 - name the record, keep the cause
                raise ValueError(f"{path}: record {index} could not be parsed: {error}") from error


def ground_truth_from_tfrecords(file_pattern, label_map=None, parse_record=None):
    """Build the COCO ground truth of TFRecord files (OD API schema).

    Args:
      file_pattern: glob (or list of globs/paths), e.g. DIR/tfrecords/coco_val.record-*.
      label_map: label map path / categories (see `categories_from_label_map`); None uses the label map
        beside the shards (`data.layout.find_label_map`), else the ids found in the records, named by id.
      parse_record: callable(serialized bytes) -> dict like `parse_annotations` (the default).

    Returns:
      COCO dict {"images", "annotations", "categories"} with boxes in original pixels.
    """
    patterns = [file_pattern] if isinstance(file_pattern, (str, pathlib.Path)) else list(file_pattern)
    files = sorted({f for pattern in patterns for f in glob.glob(str(pattern))})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_pattern}")
    records = _read_records(files, parse_record or parse_annotations)
    resolver = ImageIdResolver()
    images, annotations, seen_ids = [], [], set()
    for record in records:
        source_id = record["source_id"]
        source_id = source_id.decode("utf-8") if isinstance(source_id, bytes) else str(source_id)
        image_id = resolver(source_id)
        if image_id in seen_ids:
            continue  # the same image twice (e.g. overlapping globs): keep the first
        seen_ids.add(image_id)
        height, width = int(record["height"]), int(record["width"])
        file_name = record.get("file_name") or source_id
        file_name = file_name.decode("utf-8") if isinstance(file_name, bytes) else str(file_name)
        images.append(
            {"id": image_id, "source_id": source_id, "file_name": file_name, "height": height, "width": width}
        )
        xmin = np.asarray(record["xmin"], np.float64) * width
        ymin = np.asarray(record["ymin"], np.float64) * height
        xmax = np.asarray(record["xmax"], np.float64) * width
        ymax = np.asarray(record["ymax"], np.float64) * height
        labels = np.asarray(record["labels"], np.int64)
        count = labels.shape[0]
        crowd = np.asarray(record.get("is_crowd", ()), np.int64)
        crowd = crowd if crowd.shape[0] == count else np.zeros(count, np.int64)
        area = np.asarray(record.get("area", ()), np.float64)
        for k in range(count):
            w, h = xmax[k] - xmin[k], ymax[k] - ymin[k]
            if w <= 0 or h <= 0:
                continue
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(labels[k]),
                    "bbox": [float(xmin[k]), float(ymin[k]), float(w), float(h)],
                    # COCO area = segment area (decides small/medium/large); the box area stands in.
                    "area": float(area[k]) if area.shape[0] == count and area[k] > 0 else float(w * h),
                    "iscrowd": int(crowd[k]),
                }
            )
    if label_map is None:
        from keras_centernet.data.layout import find_label_map

        label_map = find_label_map(str(patterns[0]))
    if label_map is not None:
        categories = categories_from_label_map(label_map)
        known = {c["id"] for c in categories}
        unknown = sorted({a["category_id"] for a in annotations} - known)
        if unknown:
            raise ValueError(f"TFRecords {file_pattern} hold category ids {unknown} that the label map lacks")
    else:
        ids = sorted({a["category_id"] for a in annotations})
        categories = [{"id": c, "name": str(c)} for c in ids]
    return {"images": images, "annotations": annotations, "categories": categories}
