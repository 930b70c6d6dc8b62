"""visualization.py: drawing touches only box frames and label tags; heatmap overlays blend as documented."""

import numpy as np
import pytest

from keras_centernet.visualization import (
    _font,
    class_color,
    draw_detections,
    heatmap_overlay,
    label_rectangles,
    label_size,
)


def frame_mask(shape, boxes, line_width):
    """Pixels of each box's frame band (the box edge +- line_width, whole pixels)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    mask = np.zeros(shape, bool)
    for box in np.asarray(boxes, np.float64).reshape(-1, 4):
        x1, x2 = np.floor(min(box[0], box[2])), np.ceil(max(box[0], box[2]))
        y1, y2 = np.floor(min(box[1], box[3])), np.ceil(max(box[1], box[3]))
        outer = (xx >= x1 - 1) & (xx <= x2 + 1) & (yy >= y1 - 1) & (yy <= y2 + 1)
        inner = (xx > x1 + line_width) & (xx < x2 - line_width) & (yy > y1 + line_width) & (yy < y2 - line_width)
        mask |= outer & ~inner
    return mask


def allowed_mask(shape, boxes, line_width, tag_height, tags=None):
    """Pixels a drawing may change: the frame bands and the label tags. `tags`: the exact tag rectangles (x1, y1,
    x2, y2 exclusive); without them, every row a tag of `tag_height` can reach from its box (above it or inside its
    top edge, moved by up to two tag heights per other tag to avoid overlaps)."""
    allowed = frame_mask(shape, boxes, line_width)
    if tags is not None:
        for x1, y1, x2, y2 in tags:
            allowed[y1:y2, x1:x2] = True
        return allowed
    rows = np.arange(shape[0])[:, None]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    reach = 2 * tag_height * (len(boxes) - 1) + 1
    for box in boxes:
        top = np.floor(min(box[1], box[3]))
        allowed |= (rows >= top - tag_height - reach) & (rows <= top + line_width + tag_height + reach)
    return allowed


def _tags(image_shape, boxes, texts, line_width=2, font_size=12):
    sizes = [label_size(text, _font(font_size)) for text in texts]
    return label_rectangles(boxes, sizes, image_shape, line_width), np.array(sizes)


def test_draw_changes_only_frames_and_tags():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (200, 300, 3), np.uint8)
    # The second box has no room above and its long name would pass the right edge; the third's tag would cover
    # the first's.
    boxes = np.array([[40, 60, 140, 150], [180, 5, 290, 190], [60, 62, 200, 120]], np.float32)
    out = draw_detections(
        image, boxes, [0.91, 0.5, 0.25], [0, 2, 1], ["cat", "dog", "a long bird name"], line_width=2, font_size=12
    )
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, image)
    changed = np.any(out != image, axis=-1)
    tags, _ = _tags(image.shape, boxes, ["cat 0.91", "a long bird name 0.50", "dog 0.25"])
    assert changed.sum() > 500
    assert not np.any(changed & ~allowed_mask(image.shape[:2], boxes, 2, 18, tags))
    assert not np.any(changed & ~allowed_mask(image.shape[:2], boxes, 2, 18))  # the bound the detect test uses
    # Frames in the class colour; tags filled with it (their top-left pixel), drawn after every frame.
    assert tuple(out[100, 40]) == class_color(0) and tuple(out[100, 289]) == class_color(2)
    for (x1, y1, _, _), label in zip(tags, [0, 2, 1]):
        assert tuple(out[y1, x1]) == class_color(label)
    assert tags[1][2] == 300 and tags[1][1] == 5 + 2  # shifted left, inside the top edge
    assert tags[2][1] == tags[0][3] and tags[2][0] == 60  # moved down just below the first tag


def test_label_rectangles_stay_inside_for_boxes_on_every_edge():
    height, width = 90, 160
    boxes = np.array(
        [
            [0, 30, 25, 60],  # left edge
            [135, 30, 160, 60],  # right edge
            [60, 0, 90, 20],  # top edge
            [60, 70, 90, 90],  # bottom edge
            [0, 0, 20, 15],  # top-left corner
            [140, 0, 160, 15],  # top-right corner
            [0, 75, 20, 90],  # bottom-left corner
            [140, 75, 160, 90],  # bottom-right corner
            [0, 0, 160, 90],  # the whole image
        ],
        np.float32,
    )
    texts = [f"class {i} 0.{i}9" for i in range(len(boxes))]
    tags, sizes = _tags((height, width, 3), boxes, texts)
    assert np.array_equal(tags[:, 2:] - tags[:, :2], sizes)  # every tag keeps its text's size
    assert tags[:, 0].min() >= 0 and tags[:, 1].min() >= 0
    assert tags[:, 2].max() <= width and tags[:, 3].max() <= height
    assert tags[1][2] == width and tags[5][2] == width and tags[7][2] == width  # moved left, not cut
    assert tags[0][:2].tolist() == [0, 30 - sizes[0][1]]  # room above: just above the box
    assert tags[2][1] == 2  # no room above: inside the top edge, below the 2 px frame
    _assert_no_overlap(tags)


def test_label_rectangles_of_a_cluster_never_overlap():
    rng = np.random.default_rng(1)
    corners = rng.uniform(30, 50, (8, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(20, 40, (8, 2))], axis=1)  # 8 boxes on one spot
    texts = ["person 0.99", "person 0.87", "dog 0.75", "person 0.52", "cat 0.41", "dog 0.33", "car 0.2", "x 0.1"]
    tags, sizes = _tags((128, 128, 3), boxes, texts)
    _assert_no_overlap(tags)
    assert tags[:, :2].min() >= 0 and tags[:, 2].max() <= 128 and tags[:, 3].max() <= 128
    first = np.floor(boxes[0, :2]).astype(int)
    assert tags[0][:2].tolist() == [first[0], first[1] - sizes[0][1]]  # the first box keeps its place
    # A tag too wide for the image starts at its left edge; with no free row it keeps its place.
    assert label_rectangles([[50, 50, 60, 60]], [(200, 10)], (100, 100), 2).tolist() == [[0, 40, 200, 50]]
    assert label_rectangles([[5, 5, 15, 15]], [(10, 16)], (20, 40), 2).tolist() == [[5, 4, 15, 20]]  # kept inside
    assert label_rectangles([[5, 5, 15, 15]], [(10, 30)], (20, 40), 2).tolist() == [[5, 0, 15, 30]]  # too tall
    full = label_rectangles([[0, 20, 10, 30]] * 3, [(10, 10)] * 3, (20, 10), 2)
    assert full.tolist() == [[0, 10, 10, 20], [0, 0, 10, 10], [0, 10, 10, 20]]


def _assert_no_overlap(tags):
    for i in range(len(tags)):
        for j in range(i):
            a, b = tags[i], tags[j]
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            assert not overlap, (i, j, a.tolist(), b.tolist())


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
