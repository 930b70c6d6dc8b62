"""visualization.py: drawing touches only box frames and label tags; heatmap overlays blend as documented."""

import numpy as np
import pytest

from keras_centernet.visualization import class_color, draw_detections, heatmap_overlay


def allowed_mask(shape, boxes, line_width, tag_height):
    """Pixels a drawing may change: each box's frame band (+-line_width) and a tag strip above/inside it."""
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    allowed = np.zeros(shape, bool)
    for box in np.asarray(boxes, np.float64):
        x1, x2 = np.floor(min(box[0], box[2])), np.ceil(max(box[0], box[2]))  # whole pixels touched
        y1, y2 = np.floor(min(box[1], box[3])), np.ceil(max(box[1], box[3]))
        outer = (xx >= x1 - 1) & (xx <= x2 + 1) & (yy >= y1 - 1) & (yy <= y2 + 1)
        inner = (
            (xx > x1 + line_width) & (xx < x2 - line_width) & (yy > y1 + line_width) & (yy < y2 - line_width)
        )
        allowed |= outer & ~inner
        tag_top = y1 - tag_height if y1 - tag_height >= 0 else y1
        tag_top = min(tag_top, height - tag_height)
        allowed |= (xx >= x1 - 1) & (yy >= tag_top - 1) & (yy <= tag_top + tag_height + line_width + 1)
    return allowed


def test_draw_changes_only_frames_and_tags():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (200, 300, 3), np.uint8)
    boxes = np.array([[40, 60, 140, 150], [180, 5, 290, 190]], np.float32)  # second has no room above
    out = draw_detections(
        image, boxes, [0.91, 0.5], [0, 2], ["cat", "dog", "bird"], line_width=2, font_size=12
    )
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, image)
    changed = np.any(out != image, axis=-1)
    assert changed.sum() > 500
    assert not np.any(changed & ~allowed_mask(image.shape[:2], boxes, 2, 18))
    # The frame is in the class colour.
    assert tuple(out[100, 40]) == class_color(0) and tuple(out[100, 289]) == class_color(2)


def test_draw_without_labels_or_scores_and_bad_input():
    image = np.zeros((50, 50, 3), np.uint8)
    out = draw_detections(image, [[10, 10, 40, 40]])
    assert out[25, 10].tolist() == list(class_color(0)) and out[25, 25].tolist() == [0, 0, 0]
    assert np.array_equal(draw_detections(image, np.zeros((0, 4))), image)
    with pytest.raises(ValueError, match="shape"):
        draw_detections(np.zeros((5, 5)), [[0, 0, 1, 1]])


def test_heatmap_overlay_blends_by_heat():
    image = np.full((64, 64, 3), 100, np.uint8)
    heatmap = np.zeros((16, 16, 2), np.float32)
    heatmap[8, 8, 1] = 1.0
    out = heatmap_overlay(image, heatmap, alpha=0.5)
    assert out.shape == (64, 64, 3)
    assert np.array_equal(out[:8, :8], image[:8, :8])  # zero heat leaves the image
    assert np.abs(out[33:35, 33:35].astype(int) - 100).max() > 20  # the peak shows
    logits = np.full((16, 16), -50.0)
    assert np.array_equal(heatmap_overlay(image, logits, from_logits=True), image)
    with pytest.raises(ValueError, match="heatmap"):
        heatmap_overlay(image, np.zeros((2, 2, 2, 2)))
