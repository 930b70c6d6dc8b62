"""Pascal VOC xml folder -> the same sharded TFRecords and label map as ``coco.py``.

Each ``*.xml`` names its image (``<filename>``, looked up in the image folder; when absent, the xml's stem with a
common image extension) and its objects (``<object><name>`` and ``<bndbox>`` xmin, ymin, xmax, ymax in pixels,
used as they are, like the OD API's ``create_pascal_tf_record.py``). Classes are the sorted object names found
in the xml files, with ids 1..N, unless given. Images in formats TensorFlow cannot decode (TIFF, ...) are
re-encoded as PNG.
"""

import glob
import os
import xml.etree.ElementTree as ElementTree

from keras_centernet.data import conversion

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".tif", ".tiff", ".bmp")


def _text(node, path, default=None):
    if node is None or node.text is None:
        if default is not None:
            return default
        raise ValueError(f"{path}: missing element")
    return node.text.strip()


def parse_voc_xml(path):
    """One VOC annotation file -> dict(filename, width, height, objects=[(name, (xmin, ymin, xmax, ymax))])."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{path}: not valid XML ({error})") from None
    size = root.find("size")
    width = int(float(_text(size.find("width"), path, "0"))) if size is not None else None
    height = int(float(_text(size.find("height"), path, "0"))) if size is not None else None
    objects = []
    for number, element in enumerate(root.iter("object"), start=1):
        box = element.find("bndbox")
        if box is None:
            raise ValueError(f"{path}: object {number} has no <bndbox>")
        try:
            coordinates = tuple(float(_text(box.find(key), path)) for key in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            raise ValueError(f"{path}: object {number} has a <bndbox> without numeric xmin/ymin/xmax/ymax") from None
        objects.append((_text(element.find("name"), path, ""), coordinates))
    return {
        "filename": _text(root.find("filename"), path, ""),
        "width": width or None,
        "height": height or None,
        "objects": objects,
    }


def _image_path(images, xml_path, filename):
    if filename and os.path.isfile(os.path.join(images, filename)):
        return os.path.join(images, filename)
    stem = os.path.splitext(os.path.basename(xml_path))[0]
    for extension in _IMAGE_EXTENSIONS:
        candidate = os.path.join(images, stem + extension)
        if os.path.isfile(candidate):
            return candidate
    return os.path.join(images, filename or stem)


def read_voc_entries(annotations, images=None, classes=None):
    """Parse every ``*.xml`` in the folder ``annotations`` (sorted).

    Returns ``(entries, categories, invalid)``: ``categories`` is ``{id: name}`` with ids 1..N for ``classes``
    (default: the sorted object names found), ``invalid`` names objects whose class is not among them or whose
    box is invalid (xmax < xmin, ymax < ymin, or a NaN / infinite coordinate; see ``conversion.box_problem``).
    """
    images = annotations if images is None else images
    paths = sorted(glob.glob(os.path.join(annotations, "*.xml")))
    if not paths:
        raise ValueError(f"--annotations {annotations}: no *.xml files")
    parsed = [(path, parse_voc_xml(path)) for path in paths]
    if classes is None:
        classes = sorted({name for _, record in parsed for name, _ in record["objects"]})
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes {classes}: repeated names")
    ids = {name: index for index, name in enumerate(classes, start=1)}
    entries, invalid = [], []
    for path, record in parsed:
        entry = conversion.ImageEntry(
            path=_image_path(images, path, record["filename"]),
            source_id=os.path.splitext(os.path.basename(path))[0],
            filename=record["filename"] or os.path.basename(path),
            width=record["width"],
            height=record["height"],
        )
        for number, (name, box) in enumerate(record["objects"], start=1):
            if name not in ids:
                invalid.append(f"{path}: object class {name!r} is not in the classes {classes}")
                continue
            problem = conversion.box_problem(box)
            if problem:
                invalid.append(f"{path}: object {number} ({name}) has an invalid <bndbox> {box}: {problem}")
                continue
            entry.boxes.append(box)
            entry.labels.append(ids[name])
            entry.texts.append(name)
        entries.append(entry)
    return entries, dict(zip(ids.values(), ids.keys())), invalid


def convert_voc(
    annotations,
    images=None,
    output=None,
    *,
    split="train",
    num_shards=1,
    classes=None,
    workers=None,
    skip_invalid=False,
    progress=True,
):
    """Convert a folder of VOC xml files (+ image folder, default the same) to ``output``'s TFRecords.

    ``classes``: class names in id order (ids 1..N); default the sorted names found. Returns a
    ConversionSummary; missing images and unknown classes raise ConversionError unless ``skip_invalid``.
    """
    if output is None:
        raise ValueError("convert_voc needs an output folder")
    entries, categories, invalid = read_voc_entries(annotations, images, classes)
    options = {"workers": workers, "skip_invalid": skip_invalid, "invalid_annotations": invalid, "progress": progress}
    return conversion.write_records(entries, output, split, num_shards, categories, **options)
