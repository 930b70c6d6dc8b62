"""A deterministic synthetic detection set: filled shapes of three classes on textured backgrounds.

Numpy only (no TensorFlow), so tests, benchmarks and the quickstart can use it on any Keras backend. Each class is a
shape, so a detector must learn shape (not colour) to tell them apart; sizes span small to large objects.
"""

import numpy as np

SYNTHETIC_CLASS_NAMES = ("rectangle", "ellipse", "triangle")


def _background(rng, size):
    """Smooth random texture (bilinear 4x4 colour field) plus pixel noise, float [size, size, 3] in 0..255."""
    coarse = rng.uniform(40, 215, size=(4, 4, 3))
    grid = np.linspace(0, 3, size)
    rows = np.stack([np.interp(grid, np.arange(4), coarse[:, j, c]) for j in range(4) for c in range(3)], -1)
    rows = rows.reshape(size, 4, 3)
    smooth = np.stack([np.interp(grid, np.arange(4), rows[i, :, c]) for i in range(size) for c in range(3)], -1)
    smooth = smooth.reshape(size, size, 3).transpose(1, 0, 2)
    return smooth + rng.normal(0, 12, size=(size, size, 3))


def _shape_mask(label, box, yy, xx):
    """Boolean [size, size] mask of shape `label` whose tight box is `box` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    if label == 0:
        return (xx >= x1) & (xx < x2) & (yy >= y1) & (yy < y2)
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    if label == 1:
        return ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0
    depth = (yy + 0.5 - y1) / (y2 - y1)
    return (depth >= 0) & (depth <= 1) & (np.abs(xx + 0.5 - cx) <= depth * rx)


def _iou(box, others):
    if not others:
        return 0.0
    others = np.asarray(others)
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return float(np.max(inter / (area + areas - inter)))


def make_synthetic_image(rng, image_size=128, num_classes=3, max_objects=4, min_size=0.12, max_size=0.45):
    """One image with 1..max_objects shapes.

    Returns (image uint8 [size, size, 3], boxes float32 [n, 4] xyxy pixels, labels int32 [n]).
    """
    if not 1 <= num_classes <= len(SYNTHETIC_CLASS_NAMES):
        raise ValueError(f"num_classes must be in 1..{len(SYNTHETIC_CLASS_NAMES)}, got {num_classes}")
    image = _background(rng, image_size)
    yy, xx = np.mgrid[0:image_size, 0:image_size]
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            w, h = rng.uniform(min_size, max_size, size=2) * image_size
            x1, y1 = rng.uniform(0, image_size - w), rng.uniform(0, image_size - h)
            box = np.round([x1, y1, x1 + w, y1 + h])
            if _iou(box, boxes) < 0.2:
                break
        else:
            continue
        label = int(rng.integers(0, num_classes))
        colour = rng.uniform(0, 255, size=3)
        while np.abs(colour - image[yy == int(box[1])].mean(axis=0)).mean() < 60:
            colour = rng.uniform(0, 255, size=3)
        image[_shape_mask(label, box, yy, xx)] = colour
        boxes.append(box)
        labels.append(label)
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int32)


def pad_boxes(boxes, labels, max_boxes):
    """Pads [n, 4] boxes and [n] labels to [max_boxes, 4] / [max_boxes] with -1 (truncates beyond max_boxes)."""
    padded_boxes = np.full((max_boxes, 4), -1.0, np.float32)
    padded_labels = np.full((max_boxes,), -1, np.int32)
    n = min(len(labels), max_boxes)
    padded_boxes[:n] = boxes[:n]
    padded_labels[:n] = labels[:n]
    return padded_boxes, padded_labels


def make_synthetic_dataset(num_images, image_size=128, num_classes=3, max_boxes=16, max_objects=4, seed=0):
    """A deterministic set of `num_images` synthetic images.

    Returns (images uint8 [N, S, S, 3], boxes float32 [N, max_boxes, 4] xyxy pixels padded with -1,
    labels int32 [N, max_boxes] padded with -1). The same seed always gives the same set.
    """
    rng = np.random.default_rng(seed)
    images = np.zeros((num_images, image_size, image_size, 3), np.uint8)
    all_boxes = np.zeros((num_images, max_boxes, 4), np.float32)
    all_labels = np.zeros((num_images, max_boxes), np.int32)
    for i in range(num_images):
        image, boxes, labels = make_synthetic_image(rng, image_size, num_classes, max_objects)
        images[i] = image
        all_boxes[i], all_labels[i] = pad_boxes(boxes, labels, max_boxes)
    return images, all_boxes, all_labels


def write_synthetic_split(data_dir, split, images, boxes, labels, class_ids=(1, 2, 3), first_id=1, num_shards=1):
    """Writes a synthetic split as a converted dataset folder (TensorFlow needed here only).

    Images [N, H, W, 3] uint8 go to DIR/{split}_images/{id}.png (lossless) and, with their padded boxes/labels
    (contiguous labels -> `class_ids`), through the converters' `write_records` to
    DIR/tfrecords/coco_{split}.record-* plus DIR/mscoco_label_map.pbtxt. Source ids are first_id, first_id + 1, ...
    Returns the ConversionSummary.
    """
    import os

    from PIL import Image

    from keras_centernet.data.conversion import ImageEntry, write_records

    class_ids = [int(i) for i in class_ids]
    names = SYNTHETIC_CLASS_NAMES[: len(class_ids)]
    image_dir = os.path.join(data_dir, f"{split}_images")
    os.makedirs(image_dir, exist_ok=True)
    entries = []
    for i, image in enumerate(images):
        path = os.path.join(image_dir, f"{first_id + i}.png")
        Image.fromarray(np.asarray(image, np.uint8)).save(path)
        keep = labels[i] >= 0
        entries.append(
            ImageEntry(
                path=path,
                source_id=str(first_id + i),
                filename=os.path.basename(path),
                width=int(image.shape[1]),
                height=int(image.shape[0]),
                boxes=[tuple(float(v) for v in box) for box in boxes[i][keep]],
                labels=[class_ids[k] for k in labels[i][keep]],
                texts=[names[k] for k in labels[i][keep]],
            )
        )
    return write_records(entries, data_dir, split, num_shards, dict(zip(class_ids, names)), workers=1, progress=False)
