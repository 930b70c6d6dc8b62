"""Pictures of detections and heatmaps (numpy + PIL): boxes with class names and scores, heatmap overlays.

Everything drawn for a box stays inside its frame band (the box edge +- `line_width`) or its label tag, so the rest
of the image is unchanged. Tags stay inside the image and never cover each other (`label_rectangles`); frames are
drawn first, tags over them, so no frame crosses a tag's text.
"""

import numpy as np

# Distinct, saturated colours (the Tableau 10 palette); class k uses PALETTE[k % 10].
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


def class_color(label):
    """RGB colour of a contiguous class label."""
    return PALETTE[int(label) % len(PALETTE)]


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: bitmap font without a size
        return ImageFont.load_default()


def default_line_width(height, width):
    """Box line width for an image: 2 px up to ~500 px images, growing with the image."""
    return max(2, int(round(max(height, width) / 250)))


def label_size(text, font):
    """(width, height) in pixels of the tag holding `text` in `font`: the text's extent plus 2 px on each side."""
    left, top, right, bottom = font.getbbox(text, anchor="lt")
    return right - left + 4, bottom - top + 4


def label_rectangles(boxes, sizes, image_shape, line_width=2):
    """Where each box's label tag goes, placed in the boxes' order (the first box gets its preferred place).

    A tag sits above its box, or inside its top edge when there is no room above; it moves left when it would pass
    the right edge, and to the nearest free row (down on a tie) when it would overlap a tag already placed. A tag
    larger than the image starts at its top-left corner; where no free row exists it keeps its preferred place.

    Args:
      boxes: [n, 4] xyxy in image pixels. sizes: [n, 2] tag (width, height) in pixels (`label_size`).
      image_shape: (height, width, ...). line_width: the box frame's width (a tag inside the box clears it).
    Returns:
      int [n, 4] (x1, y1, x2, y2), x2 and y2 exclusive.
    """
    height, width = image_shape[:2]
    placed = []
    for box, (tag_w, tag_h) in zip(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(sizes, int).reshape(-1, 2)):
        top = int(np.floor(min(box[1], box[3])))
        x = _clamp(int(np.floor(min(box[0], box[2]))), 0, width - tag_w)
        y = _clamp(top - tag_h if top - tag_h >= 0 else top + line_width, 0, height - tag_h)
        y = _free_row(x, y, tag_w, tag_h, placed, height)
        placed.append((x, y, x + tag_w, y + tag_h))
    return np.array(placed, int).reshape(-1, 4)


def _clamp(value, low, high):
    """`value` within [low, high]; `low` when the range is empty."""
    return max(low, min(value, high))


def _free_row(x, y, tag_w, tag_h, placed, height):
    """The top row nearest `y` where a tag_w x tag_h tag at column `x` overlaps no rectangle of `placed` and stays
    inside [0, height); `y` when there is none. The nearest free row is `y` itself, an image edge or a placed
    rectangle's edge, so only those are tried."""
    blockers = [r for r in placed if r[0] < x + tag_w and x < r[2]]
    rows = {y, 0, height - tag_h} | {r[3] for r in blockers} | {r[1] - tag_h for r in blockers}
    free = [
        row
        for row in rows
        if 0 <= row <= height - tag_h and not any(r[1] < row + tag_h and row < r[3] for r in blockers)
    ]
    return min(free, key=lambda row: (abs(row - y), -row)) if free else y


def _label_text(i, labels, scores, class_names):
    """ "name score" of box i: the name from class_names (by label, or by box when labels is None)."""
    label = int(labels[i]) if labels is not None else 0
    if labels is not None and class_names is not None:
        name = str(class_names[label])
    elif class_names is not None:
        name = str(class_names[i])
    else:
        name = str(label) if labels is not None else ""
    return " ".join(t for t in (name, f"{float(scores[i]):.2f}" if scores is not None else "") if t)


def draw_detections(image, boxes, scores=None, labels=None, class_names=None, line_width=None, font_size=None):
    """Draw boxes with "name score" tags on a copy of `image`.

    Args:
      image: uint8 [height, width, 3].
      boxes: [n, 4] xyxy in the image's pixels.
      scores: optional [n]; labels: optional int [n] contiguous labels (colours, and names when
        `class_names` is a list indexed by label); class_names: list indexed by label, or [n] names of
        each box when `labels` is None.
    Returns:
      uint8 [height, width, 3].
    """
    from PIL import Image, ImageDraw

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be [height, width, 3], got shape {image.shape}")
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    line_width = line_width or default_line_width(*image.shape[:2])
    font = _font(font_size or max(10, line_width * 6))
    canvas = Image.fromarray(image.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    colors = [class_color(int(labels[i]) if labels is not None else 0) for i in range(len(boxes))]
    for box, color in zip(boxes, colors):
        x1, x2 = sorted((float(box[0]), float(box[2])))
        y1, y2 = sorted((float(box[1]), float(box[3])))
        draw.rectangle((x1, y1, x2, y2), outline=color, width=line_width)
    texts = [_label_text(i, labels, scores, class_names) for i in range(len(boxes))]
    shown = [i for i, text in enumerate(texts) if text]
    sizes = [label_size(texts[i], font) for i in shown]
    for i, tag in zip(shown, label_rectangles(boxes[shown], sizes, image.shape, line_width)):
        _draw_tag(draw, tag, texts[i], colors[i], font)
    return np.asarray(canvas)


def _draw_tag(draw, tag, text, color, font):
    """A filled tag (x1, y1, x2, y2; x2, y2 exclusive) with `text` in black or white, whichever reads better."""
    x1, y1, x2, y2 = (int(v) for v in tag)
    draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=color)
    left, top = font.getbbox(text, anchor="lt")[:2]
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    text_color = (0, 0, 0) if luminance > 150 else (255, 255, 255)
    draw.text((x1 + 2 - left, y1 + 2 - top), text, fill=text_color, font=font, anchor="lt")


def _colormap(values):
    """Values in 0..1 [h, w] -> RGB uint8 [h, w, 3] (blue -> cyan -> yellow -> red)."""
    stops = np.array([[0, 0, 128], [0, 160, 255], [255, 255, 0], [255, 0, 0]], np.float64)
    positions = np.clip(values, 0.0, 1.0) * (len(stops) - 1)
    low = np.floor(positions).astype(int).clip(0, len(stops) - 2)
    frac = (positions - low)[..., None]
    return np.round(stops[low] * (1 - frac) + stops[low + 1] * frac).astype(np.uint8)


def heatmap_overlay(image, heatmap, alpha=0.5, from_logits=False):
    """Blend a CenterNet heatmap over its image to debug targets and predictions.

    Args:
      image: uint8 [height, width, 3] (the model input, e.g. letterboxed).
      heatmap: [h, w, num_classes] or [h, w] (e.g. stride-4 target or prediction); the max over classes
        is shown, resized to the image.
      alpha: heatmap weight where the heatmap is 1 (it fades to 0 where the heatmap is 0).
      from_logits: apply a sigmoid first (raw `model(images)["heatmap"]`).
    Returns:
      uint8 [height, width, 3].
    """
    from PIL import Image

    image = np.asarray(image)
    heat = np.asarray(heatmap, np.float64)
    if heat.ndim == 3:
        heat = heat.max(axis=-1)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be [h, w] or [h, w, classes], got shape {np.shape(heatmap)}")
    if from_logits:
        heat = 1.0 / (1.0 + np.exp(-heat))
    height, width = image.shape[:2]
    resized = Image.fromarray(np.clip(heat, 0, 1).astype(np.float32)).resize((width, height), Image.BILINEAR)
    heat = np.clip(np.asarray(resized, np.float64), 0.0, 1.0)
    weight = (alpha * heat)[..., None]
    blended = image.astype(np.float64) * (1 - weight) + _colormap(heat).astype(np.float64) * weight
    return np.round(blended).astype(np.uint8)
