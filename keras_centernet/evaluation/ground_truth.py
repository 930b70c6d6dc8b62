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


def _annotations(serialized):
    """tf: one serialized tf.Example -> its annotation fields (`data.tfrecord.parse_example`, image not
    decoded unless the record lacks its size)."""
    import tensorflow as tf

    from keras_centernet.data.tfrecord import parse_example

    example = parse_example(serialized)

    def decoded_size():
        shape = tf.shape(tf.io.decode_image(example["encoded"], channels=3, expand_animations=False))
        return shape[0], shape[1]

    has_size = (example["height"] > 0) & (example["width"] > 0)
    height, width = tf.cond(has_size, lambda: (example["height"], example["width"]), decoded_size)
    fields = ("source_id", "filename", "boxes", "labels", "is_crowd", "area")
    return {"height": height, "width": width, **{key: example[key] for key in fields}}


def read_annotations(files):
    """Yield the annotations of every record of `files` as numpy (see `_annotations`), naming the file
    and record index of one that cannot be parsed."""
    import tensorflow as tf

    for path in files:
        iterator = tf.data.TFRecordDataset(path).map(_annotations).as_numpy_iterator()
        index = 0
        while True:
            try:
                record = next(iterator)
            except StopIteration:
                break
            except tf.errors.OpError as error:
                raise ValueError(f"{path}: record {index} could not be parsed: {error.message}") from None
            yield record
            index += 1


def _record_annotations(record, image_id, height, width, first_id):
    """COCO annotations (ids from `first_id`) of one record's boxes in original pixels; empty boxes left out."""
    boxes = np.asarray(record["boxes"], np.float64).reshape(-1, 4) * [width, height, width, height]
    xmin, ymin, xmax, ymax = boxes.T
    labels = np.asarray(record["labels"], np.int64)
    crowd = np.asarray(record["is_crowd"], np.int64)
    area = np.asarray(record["area"], np.float64)
    annotations = []
    for k in range(labels.shape[0]):
        w, h = xmax[k] - xmin[k], ymax[k] - ymin[k]
        if w <= 0 or h <= 0:
            continue
        annotations.append(
            {
                "id": first_id + len(annotations),
                "image_id": image_id,
                "category_id": int(labels[k]),
                "bbox": [float(xmin[k]), float(ymin[k]), float(w), float(h)],
                # COCO area = segment area (decides small/medium/large); the box area stands in.
                "area": float(area[k]) if area[k] > 0 else float(w * h),
                "iscrowd": int(crowd[k]),
            }
        )
    return annotations


def _categories(label_map, patterns, annotations, file_pattern):
    """COCO categories from `label_map` (None: the one beside the shards, else the ids found, named by id)."""
    if label_map is None:
        from keras_centernet.data.layout import find_label_map

        label_map = find_label_map(str(patterns[0]))
    if label_map is None:
        return [{"id": c, "name": str(c)} for c in sorted({a["category_id"] for a in annotations})]
    categories = categories_from_label_map(label_map)
    unknown = sorted({a["category_id"] for a in annotations} - {c["id"] for c in categories})
    if unknown:
        raise ValueError(f"TFRecords {file_pattern} hold category ids {unknown} that the label map lacks")
    return categories


def ground_truth_from_tfrecords(file_pattern, label_map=None):
    """Build the COCO ground truth of TFRecord files (OD API schema).

    Args:
      file_pattern: glob (or list of globs/paths), e.g. DIR/tfrecords/coco_val.record-*.
      label_map: label map path / categories (see `categories_from_label_map`); None uses the label map
        beside the shards (`data.layout.find_label_map`), else the ids found in the records, named by id.

    Returns:
      COCO dict {"images", "annotations", "categories"} with boxes in original pixels.
    """
    patterns = [file_pattern] if isinstance(file_pattern, (str, pathlib.Path)) else list(file_pattern)
    files = sorted({f for pattern in patterns for f in glob.glob(str(pattern))})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_pattern}")
    records = read_annotations(files)
    resolver = ImageIdResolver()
    images, annotations, seen_ids = [], [], set()
    for record in records:
        source_id = record["source_id"]
        source_id = source_id.decode("utf-8") if isinstance(source_id, bytes) else str(source_id)
        if not source_id:
            raise ValueError(f"{file_pattern}: a record has an empty image/source_id; evaluation matches records by it")
        image_id = resolver(source_id)
        if image_id in seen_ids:
            continue  # the same image twice (e.g. overlapping globs): keep the first
        seen_ids.add(image_id)
        height, width = int(record["height"]), int(record["width"])
        file_name = record["filename"].decode("utf-8") or source_id
        images.append(
            {"id": image_id, "source_id": source_id, "file_name": file_name, "height": height, "width": width}
        )
        annotations.extend(_record_annotations(record, image_id, height, width, first_id=len(annotations) + 1))
    categories = _categories(label_map, patterns, annotations, file_pattern)
    return {"images": images, "annotations": annotations, "categories": categories}
