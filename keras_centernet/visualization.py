"""Pictures of detections and heatmaps (numpy + PIL): boxes with class names and scores, heatmap overlays.

Everything drawn for a box stays inside its frame band (the box edge +- `line_width`) or its label tag (just
above the box, or inside its top edge when there is no room above), so the rest of the image is unchanged.
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


def label_tag(box, text, font, image_height, line_width):
    """Rectangle (x1, y1, x2, y2) of a box's label tag: above the box, or inside its top edge."""
    left, top, right, bottom = font.getbbox(text)
    tag_w, tag_h = right - left + 4, bottom - top + 4
    x1, y1 = float(box[0]), float(box[1])
    tag_y1 = y1 - tag_h if y1 - tag_h >= 0 else y1 + line_width
    tag_y1 = min(tag_y1, max(image_height - tag_h, 0))  # boxes at the bottom edge keep their tag visible
    return (x1, tag_y1, x1 + tag_w, tag_y1 + tag_h)


def draw_detections(
    image, boxes, scores=None, labels=None, class_names=None, line_width=None, font_size=None
):
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
    height, width = image.shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    line_width = line_width or default_line_width(height, width)
    font = _font(font_size or max(10, line_width * 6))
    canvas = Image.fromarray(image.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for i, box in enumerate(boxes):
        label = int(labels[i]) if labels is not None else 0
        if labels is not None and class_names is not None:
            name = str(class_names[label])
        elif class_names is not None:
            name = str(class_names[i])
        else:
            name = str(label) if labels is not None else ""
        text = " ".join(t for t in (name, f"{float(scores[i]):.2f}" if scores is not None else "") if t)
        color = class_color(label)
        x1, x2 = sorted((float(box[0]), float(box[2])))
        y1, y2 = sorted((float(box[1]), float(box[3])))
        draw.rectangle((x1, y1, x2, y2), outline=color, width=line_width)
        if text:
            tag = label_tag((x1, y1, x2, y2), text, font, height, line_width)
            draw.rectangle(tag, fill=color)
            luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
            draw.text(
                (tag[0] + 2, tag[1] + 2),
                text,
                fill=(0, 0, 0) if luminance > 150 else (255, 255, 255),
                font=font,
                anchor="lt",
            )
    return np.asarray(canvas)


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
