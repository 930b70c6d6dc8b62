"""COCO instances json + image folder -> sharded TFRecords and the OD API label map.

``convert_coco("instances_train2017.json", "train2017/", "DIR", split="train", num_shards=100)`` writes
``DIR/mscoco_label_map.pbtxt`` and ``DIR/tfrecords/coco_train.record-00000-of-00100`` ... (see layout.py).
Crowd annotations are kept with ``is_crowd=1`` (training ignores them, COCO evaluation uses them); images
without annotations are kept; boxes are clipped to the image and zero-area ones dropped. Boxes with a negative
width or height or a NaN / infinite number are invalid annotations: named, and skipped only with ``skip_invalid``.
An image id listed twice or a category id listed with two names is always refused before anything is written.
"""

import json
import os

from keras_centernet.data import conversion


def _pixel_box(annotation, where):
    """``((xmin, ymin, xmax, ymax) pixels, None)`` of an annotation's ``[x, y, width, height]`` bbox, or
    ``(None, message)`` starting with ``where`` when the bbox is missing or invalid (``conversion.box_problem``)."""
    try:
        x, y, width, height = (float(v) for v in annotation["bbox"])
    except (KeyError, TypeError, ValueError):
        return None, f"{where} has no [x, y, width, height] bbox: {annotation.get('bbox')!r}"
    box = (x, y, x + width, y + height)
    problem = conversion.box_problem(box)
    if problem:
        return None, f"{where} has an invalid bbox {annotation['bbox']!r}: {problem}"
    return box, None


def _listed(count):
    return "twice" if count == 2 else f"{count} times"


def _duplicates_line(source, what, duplicates):
    """``SOURCE: WHAT ID is listed twice (A, B)`` for the first of ``duplicates`` ({id: [shown values]} of the
    ids listed more than once), and ``; N more WHATs are listed more than once`` when there are others."""
    (first, shown), *others = duplicates.items()
    more = f"; {len(others)} more {what}{'s are' if len(others) > 1 else ' is'} listed more than once" if others else ""
    return f"{source}: {what} {first} is listed {_listed(len(shown))} ({', '.join(shown)}){more}"


def _check_unique_image_ids(images, source):
    """Raises ConversionError naming the first image id listed more than once (with its file names): the
    annotations of such an id cannot be told apart, and would all land on one of its images."""
    files = {}
    for image in images:
        files.setdefault(image.get("id"), []).append(str(image.get("file_name")))
    duplicates = {image_id: names for image_id, names in files.items() if len(names) > 1}
    if duplicates:
        raise conversion.ConversionError(_duplicates_line(source, "image id", duplicates))


def _unique_categories(categories, source):
    """``{id: name}`` of the json's categories; raises ConversionError naming the first id listed with two
    different names (which name the label map should keep is unknown). The same id listed again with the same
    name (e.g. merged category lists) changes nothing and is accepted."""
    names = {}
    for category in categories:
        names.setdefault(int(category["id"]), []).append(str(category["name"]))
    conflicting = {category_id: [json.dumps(name) for name in listed] for category_id, listed in names.items()
                   if len(set(listed)) > 1}
    if conflicting:
        raise conversion.ConversionError(_duplicates_line(source, "category id", conflicting))
    return {category_id: listed[0] for category_id, listed in names.items()}


def read_coco_entries(annotations):
    """Parse a COCO instances json (a path or the loaded dict).

    Returns ``(entries, categories, invalid)``: ``ImageEntry`` per image with paths relative to the image
    folder (joined later), ``{id: name}`` of the json's categories, and messages for annotations whose
    category id is not among them, whose image id is unknown, or whose ``[x, y, width, height]`` bbox (pixels)
    is not 4 finite numbers with width, height >= 0 (those annotations are left out). An image id listed
    twice, or a category id listed with two names, raises ConversionError naming them (``skip_invalid`` cannot
    help: which boxes or name belong where is unknown).
    """
    if isinstance(annotations, (str, os.PathLike)):
        source = os.fspath(annotations)
        try:
            with open(source, encoding="utf-8") as file:
                annotations = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}: not valid JSON ({error})") from None
    else:
        source = "annotations"
    for key in ("images", "categories"):
        if key not in annotations:
            raise ValueError(f"{source}: no '{key}' list: not a COCO instances file")
    categories = _unique_categories(annotations["categories"], source)
    _check_unique_image_ids(annotations["images"], source)
    entries, by_id = [], {}
    for image in annotations["images"]:
        entry = conversion.ImageEntry(
            path=image["file_name"],
            source_id=str(image["id"]),
            filename=os.path.basename(image["file_name"]),
            width=image.get("width"),
            height=image.get("height"),
        )
        entries.append(entry)
        by_id[image["id"]] = entry
    invalid = []
    for annotation in annotations.get("annotations", []):
        entry = by_id.get(annotation.get("image_id"))
        category_id = annotation.get("category_id")
        if entry is None:
            invalid.append(f"{source}: annotation {annotation.get('id')} refers to unknown image id "
                           f"{annotation.get('image_id')}")
            continue
        if category_id not in categories:
            invalid.append(f"{source}: annotation {annotation.get('id')} of image {entry.filename} has unknown "
                           f"category id {category_id}")
            continue
        box, problem = _pixel_box(annotation, f"{source}: annotation {annotation.get('id')} of image {entry.filename}")
        if problem:
            invalid.append(problem)
            continue
        entry.boxes.append(box)
        entry.labels.append(int(category_id))
        entry.texts.append(categories[category_id])
        entry.is_crowd.append(int(annotation.get("iscrowd", 0)))
        entry.area.append(annotation.get("area"))
    return entries, categories, invalid


def convert_coco(
    annotations,
    images,
    output,
    *,
    split="train",
    num_shards=None,
    workers=None,
    skip_invalid=False,
    progress=True,
):
    """Convert a COCO json + image folder to ``output``'s TFRecords; returns a ConversionSummary.

    ``num_shards`` defaults to 100 for the train split and 10 otherwise (the seed's layout). Missing image
    files and unknown category ids raise ConversionError naming them unless ``skip_invalid``; an image id
    listed twice or a category id listed with two names raises it always, before anything is written.
    """
    entries, categories, invalid = read_coco_entries(annotations)
    if not os.path.isdir(images):
        raise ValueError(f"--images {images}: not a folder")
    for entry in entries:
        entry.path = os.path.join(images, entry.path)
    if num_shards is None:
        num_shards = 100 if split == "train" else 10
    options = {"workers": workers, "skip_invalid": skip_invalid, "invalid_annotations": invalid, "progress": progress}
    return conversion.write_records(entries, output, split, num_shards, categories, **options)
