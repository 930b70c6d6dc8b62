"""`evaluate_dataset` on images whose size differs from the model input: letterbox scale 64 / 640 = 0.1.

Perfect detections, given in model-input pixels computed by hand (original box x 0.1), must score AP 1.0 with the
ground truth built from the records (boxes mapped back by 1 / scale) and with the one read from the records
directly, and come out in the hand-computed original pixels. A model that ignores the scale on either side
scores ~0.
"""

import numpy as np
import pytest

from keras_centernet.evaluation.coco import evaluate_dataset

pytestmark = pytest.mark.tensorflow

CLASS_IDS = (3, 17, 90)
IMAGE_SIZE = 64
SCALE = 0.1  # 64 / max(640, 480)
# Original pixels, xyxy, per image: (height, width, [(box, contiguous label), ...]).
IMAGES = [
    (480, 640, [((64.0, 48.0, 320.0, 288.0), 0), ((400.0, 100.0, 600.0, 460.0), 2)]),
    (480, 640, [((10.0, 20.0, 210.0, 220.0), 1)]),
    (640, 480, [((40.0, 500.0, 440.0, 630.0), 0), ((50.0, 50.0, 150.0, 400.0), 1)]),  # portrait
]
# The same boxes in model-input pixels, by hand (x 0.1).
INPUT_BOXES = [
    [(6.4, 4.8, 32.0, 28.8), (40.0, 10.0, 60.0, 46.0)],
    [(1.0, 2.0, 21.0, 22.0)],
    [(4.0, 50.0, 44.0, 63.0), (5.0, 5.0, 15.0, 40.0)],
]


def _color(index):
    return 40 * (index + 1)


def _write_records(data_dir):
    from keras_centernet.data.synthetic import write_synthetic_split

    images, boxes, labels = [], np.full((3, 2, 4), -1.0), np.full((3, 2), -1, np.int64)
    for i, (height, width, objects) in enumerate(IMAGES):
        image = np.zeros((height, width, 3), np.uint8)
        image[..., 0] = _color(i)  # solid colour: the fake model tells the images apart by it
        images.append(image)
        for m, (box, label) in enumerate(objects):
            boxes[i, m], labels[i, m] = box, label
    write_synthetic_split(data_dir, "val", images, boxes, labels, class_ids=CLASS_IDS, first_id=1)
    return f"{data_dir}/tfrecords/coco_val.record-*"


class PerfectModel:
    """Returns the hand-computed INPUT_BOXES of whichever image it is given (found by its colour)."""

    class_ids, class_names, num_classes = list(CLASS_IDS), ["a", "b", "c"], 3

    def predict_on_batch(self, images):
        images = np.asarray(images)
        batch = images.shape[0]
        out = {
            "boxes": np.full((batch, 4, 4), -1.0, np.float32),
            "scores": np.zeros((batch, 4), np.float32),
            "labels": np.full((batch, 4), -1, np.int32),
            "num_detections": np.zeros((batch,), np.int32),
        }
        for b in range(batch):
            index = int(round(images[b, 0, 0, 0] / 40.0)) - 1
            for m, box in enumerate(INPUT_BOXES[index]):
                out["boxes"][b, m] = box
                out["scores"][b, m] = 0.9 - 0.1 * m
                out["labels"][b, m] = IMAGES[index][2][m][1]
            out["num_detections"][b] = len(INPUT_BOXES[index])
        return out


@pytest.fixture(scope="module")
def val_pattern(tmp_path_factory):
    return _write_records(str(tmp_path_factory.mktemp("letterbox_records")))


def _dataset(pattern):
    from keras_centernet.data.pipeline import build_dataset

    return build_dataset(pattern, training=False, batch_size=2, image_size=IMAGE_SIZE, label_map=list(CLASS_IDS))


def test_pipeline_letterboxes_to_the_hand_computed_input_boxes(val_pattern):
    seen = {}
    for images, targets in _dataset(val_pattern):
        info = {k: np.asarray(v) for k, v in targets["image_info"].items()}
        for b in range(np.asarray(images).shape[0]):
            index = int(info["source_id"][b]) - 1
            assert info["scale"][b] == pytest.approx(SCALE, rel=1e-6)
            assert (int(info["height"][b]), int(info["width"][b])) == IMAGES[index][:2]
            assert int(round(float(np.asarray(images)[b, 0, 0, 0]))) == _color(index)
            count = len(INPUT_BOXES[index])
            np.testing.assert_allclose(np.asarray(targets["boxes"])[b, :count], INPUT_BOXES[index], atol=1e-3)
            seen[index] = True
    assert sorted(seen) == [0, 1, 2]


@pytest.mark.parametrize("ground_truth_source", ["dataset", "records"])
def test_perfect_detections_score_ap_one_in_original_pixels(val_pattern, ground_truth_source):
    from keras_centernet.evaluation.ground_truth import ground_truth_from_tfrecords

    ground_truth = None if ground_truth_source == "dataset" else ground_truth_from_tfrecords(val_pattern)
    metrics, detections = evaluate_dataset(
        PerfectModel(), _dataset(val_pattern), ground_truth=ground_truth, return_detections=True
    )
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(1.0)
    assert len(detections) == 5
    # Image 1's first box: input (6.4, 4.8, 32, 28.8) / 0.1 = (64, 48, 320, 288) -> COCO [64, 48, 256, 240].
    first = [d for d in detections if d["image_id"] == 1 and d["category_id"] == 3]
    assert len(first) == 1
    np.testing.assert_allclose(first[0]["bbox"], [64.0, 48.0, 256.0, 240.0], atol=1e-3)
    # The portrait image's box reaches down to y = 630 of its 640 rows.
    portrait = [d for d in detections if d["image_id"] == 3 and d["category_id"] == 3]
    np.testing.assert_allclose(portrait[0]["bbox"], [40.0, 500.0, 400.0, 130.0], atol=1e-3)
