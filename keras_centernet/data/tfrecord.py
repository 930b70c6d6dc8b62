"""The TF Object Detection API ``tf.Example`` schema: the one place that names the keys.

A record holds one image and its objects::

    image/encoded               bytes   JPEG or PNG file bytes
    image/format                bytes   b"jpeg" or b"png"
    image/height, image/width   int64   pixels of the encoded image
    image/source_id             bytes   dataset image id (COCO: str(image id); VOC: file stem)
    image/filename              bytes   file name
    image/key/sha256            bytes   hash of the encoded bytes
    image/object/bbox/xmin ...  float   [N] box corners normalized by width / height, in [0, 1]
    image/object/class/label    int64   [N] ORIGINAL dataset category ids (COCO: 1..90 with gaps)
    image/object/class/text     bytes   [N] category names
    image/object/is_crowd       int64   [N] 1 for COCO crowd regions
    image/object/area           float   [N] object area in pixels (COCO segment area)

Records written by the OD API's ``create_coco_tf_record.py`` parse here and ours parse there.
"""

import hashlib

import numpy as np
import tensorflow as tf

ENCODED = "image/encoded"
FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
SOURCE_ID = "image/source_id"
FILENAME = "image/filename"
SHA256 = "image/key/sha256"
XMIN = "image/object/bbox/xmin"
YMIN = "image/object/bbox/ymin"
XMAX = "image/object/bbox/xmax"
YMAX = "image/object/bbox/ymax"
LABEL = "image/object/class/label"
TEXT = "image/object/class/text"
IS_CROWD = "image/object/is_crowd"
AREA = "image/object/area"


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _utf8(text):
    return text if isinstance(text, bytes) else str(text).encode("utf-8")


def encode_example(
    image_bytes,
    *,
    image_format,
    height,
    width,
    source_id,
    filename="",
    boxes=(),
    labels=(),
    texts=None,
    is_crowd=None,
    area=None,
):
    """Serialize one image and its objects into a ``tf.Example`` (bytes).

    Args:
        image_bytes: the encoded image file (JPEG or PNG).
        image_format: "jpeg" or "png".
        height, width: image size in pixels.
        source_id: dataset image id (str or int).
        boxes: float [N, 4] xmin, ymin, xmax, ymax NORMALIZED to [0, 1].
        labels: int [N] original dataset category ids.
        texts: [N] category names (default empty strings); is_crowd: int [N] (default 0);
        area: float [N] pixels (default box area).
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    count = len(boxes)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    texts = [""] * count if texts is None else list(texts)
    is_crowd = np.zeros(count, np.int64) if is_crowd is None else np.asarray(is_crowd, np.int64).reshape(-1)
    if area is None:
        area = (boxes[:, 2] - boxes[:, 0]) * width * (boxes[:, 3] - boxes[:, 1]) * height
    area = np.asarray(area, dtype=np.float32).reshape(-1)
    for name, values in (("labels", labels), ("texts", texts), ("is_crowd", is_crowd), ("area", area)):
        if len(values) != count:
            raise ValueError(f"record {source_id!r}: {len(values)} {name} for {count} boxes")
    features = {
        ENCODED: _bytes([image_bytes]),
        FORMAT: _bytes([_utf8(image_format)]),
        HEIGHT: _ints([height]),
        WIDTH: _ints([width]),
        SOURCE_ID: _bytes([_utf8(source_id)]),
        FILENAME: _bytes([_utf8(filename)]),
        SHA256: _bytes([hashlib.sha256(image_bytes).hexdigest().encode("ascii")]),
        XMIN: _floats(boxes[:, 0]),
        YMIN: _floats(boxes[:, 1]),
        XMAX: _floats(boxes[:, 2]),
        YMAX: _floats(boxes[:, 3]),
        LABEL: _ints(labels),
        TEXT: _bytes([_utf8(text) for text in texts]),
        IS_CROWD: _ints(is_crowd),
        AREA: _floats(area),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


_FEATURES = {
    ENCODED: tf.io.FixedLenFeature([], tf.string),
    FORMAT: tf.io.FixedLenFeature([], tf.string, default_value=""),
    HEIGHT: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    WIDTH: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    SOURCE_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
    FILENAME: tf.io.FixedLenFeature([], tf.string, default_value=""),
    XMIN: tf.io.VarLenFeature(tf.float32),
    YMIN: tf.io.VarLenFeature(tf.float32),
    XMAX: tf.io.VarLenFeature(tf.float32),
    YMAX: tf.io.VarLenFeature(tf.float32),
    LABEL: tf.io.VarLenFeature(tf.int64),
    TEXT: tf.io.VarLenFeature(tf.string),
    IS_CROWD: tf.io.VarLenFeature(tf.int64),
    AREA: tf.io.VarLenFeature(tf.float32),
}


def _dense(sparse):
    return tf.sparse.to_dense(sparse)


def _per_box(values, count, default):
    """Values of an optional per-box feature, or ``default`` for each box when the record lacks it."""
    return tf.cond(tf.size(values) == count, lambda: values, lambda: tf.fill([count], default))


def parse_example(serialized):
    """Parse one serialized ``tf.Example`` (tf ops, for ``tf.data``).

    Returns a dict: "encoded" tf.string, "format" tf.string, "height" / "width" int32, "source_id" tf.string,
    "filename" tf.string, "boxes" float32 [N, 4] xmin, ymin, xmax, ymax normalized, "labels" int32 [N]
    original category ids, "is_crowd" bool [N] (False when absent), "area" float32 [N] (0 when absent).
    """
    parsed = tf.io.parse_single_example(serialized, _FEATURES)
    boxes = tf.stack([_dense(parsed[key]) for key in (XMIN, YMIN, XMAX, YMAX)], axis=-1)
    count = tf.shape(boxes)[0]
    return {
        "encoded": parsed[ENCODED],
        "format": parsed[FORMAT],
        "height": tf.cast(parsed[HEIGHT], tf.int32),
        "width": tf.cast(parsed[WIDTH], tf.int32),
        "source_id": parsed[SOURCE_ID],
        "filename": parsed[FILENAME],
        "boxes": tf.reshape(boxes, [-1, 4]),
        "labels": tf.cast(_per_box(_dense(parsed[LABEL]), count, tf.constant(-1, tf.int64)), tf.int32),
        "is_crowd": _per_box(_dense(parsed[IS_CROWD]), count, tf.constant(0, tf.int64)) > 0,
        "area": _per_box(_dense(parsed[AREA]), count, 0.0),
    }
