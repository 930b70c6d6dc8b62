import numpy as np
import pytest

from keras_centernet.layers.decoder import CenterNetDecoder
from keras_centernet.layers.target_encoder import CenterNetLabelEncoder
from tests.helpers import as_numpy, box_iou


def perfect_outputs(boxes, labels, num_classes, image_size):
    """Head outputs that a perfect model would produce for these boxes: target heatmap as logits, targets at centers."""
    targets = as_numpy(
        CenterNetLabelEncoder(num_classes)(boxes[None], labels[None], image_shape=(image_size, image_size))
    )
    heatmap = np.clip(targets["heatmap"], 1e-6, 1 - 1e-6)
    out = image_size // 4
    size = np.zeros((1, out * out, 2), np.float32)
    offset = np.zeros((1, out * out, 2), np.float32)
    valid = targets["mask"][0] > 0
    size[0, targets["indices"][0][valid]] = targets["size"][0][valid]
    offset[0, targets["indices"][0][valid]] = targets["offset"][0][valid]
    return {
        "heatmap": np.log(heatmap / (1 - heatmap)).astype(np.float32),
        "size": size.reshape(1, out, out, 2),
        "offset": offset.reshape(1, out, out, 2),
    }


def test_encode_then_decode_recovers_the_boxes():
    boxes = np.array([[10.3, 12.7, 40.1, 30.9], [70.0, 20.0, 120.5, 90.2], [5.0, 100.0, 13.0, 109.0]], np.float32)
    labels = np.array([1, 0, 2], np.int32)
    decoded = as_numpy(CenterNetDecoder(max_detections=10)(perfect_outputs(boxes, labels, 3, 128)))
    assert decoded["num_detections"][0] == 10  # every cell has a score > 0; threshold 0 keeps top-K
    top = decoded["scores"][0][:3]
    np.testing.assert_allclose(top, 1.0, atol=1e-5)
    for box, label in zip(boxes, labels):
        match = [i for i in range(3) if decoded["labels"][0][i] == label]
        assert len(match) == 1
        assert box_iou(box, decoded["boxes"][0][match[0]]) > 0.95
        np.testing.assert_allclose(decoded["boxes"][0][match[0]], box, atol=1e-3)


def test_score_threshold_pads_the_rest():
    boxes = np.array([[10.0, 10.0, 50.0, 50.0], [60.0, 60.0, 100.0, 120.0]], np.float32)
    labels = np.array([0, 1], np.int32)
    decoded = as_numpy(CenterNetDecoder(max_detections=5, score_threshold=0.99)(perfect_outputs(boxes, labels, 2, 128)))
    assert decoded["num_detections"].tolist() == [2]
    assert sorted(decoded["labels"][0][:2].tolist()) == [0, 1]
    assert decoded["labels"][0][2:].tolist() == [-1, -1, -1]
    assert np.all(decoded["boxes"][0][2:] == -1.0) and np.all(decoded["scores"][0][2:] == 0.0)


def test_only_local_maxima_survive_and_boxes_are_clipped():
    heatmap = np.full((1, 8, 8, 1), -10.0, np.float32)
    heatmap[0, 3, 3, 0] = 3.0
    heatmap[0, 3, 4, 0] = 2.0  # neighbour of a higher peak: suppressed by the 3x3 max-pool
    heatmap[0, 0, 7, 0] = 1.0  # a separate peak at the top-right corner
    size = np.full((1, 8, 8, 2), 6.0, np.float32)
    outputs = {"heatmap": heatmap, "size": size, "offset": np.zeros((1, 8, 8, 2), np.float32)}
    decoded = as_numpy(CenterNetDecoder(max_detections=3, score_threshold=0.5)(outputs))
    assert decoded["num_detections"].tolist() == [2]
    np.testing.assert_allclose(decoded["scores"][0][:2], 1 / (1 + np.exp([-3.0, -1.0])), rtol=1e-6)
    np.testing.assert_allclose(decoded["boxes"][0][0], [0.0, 0.0, 24.0, 24.0])  # (3 - 3) * 4 .. (3 + 3) * 4
    np.testing.assert_allclose(decoded["boxes"][0][1], [16.0, 0.0, 32.0, 12.0])  # clipped to the 32 x 32 image


def test_config_round_trip():
    decoder = CenterNetDecoder(max_detections=7, score_threshold=0.25, stride=8, pool_size=5)
    clone = CenterNetDecoder.from_config(decoder.get_config())
    assert (clone.max_detections, clone.score_threshold, clone.stride, clone.pool_size) == (7, 0.25, 8, 5)


@pytest.mark.parametrize("k", [1, 1000])
def test_top_k_larger_than_the_map_is_capped(k):
    outputs = {
        "heatmap": np.zeros((2, 4, 4, 3), np.float32),
        "size": np.ones((2, 4, 4, 2), np.float32),
        "offset": np.zeros((2, 4, 4, 2), np.float32),
    }
    decoded = as_numpy(CenterNetDecoder(max_detections=k)(outputs))
    assert decoded["boxes"].shape == (2, min(k, 48), 4)
