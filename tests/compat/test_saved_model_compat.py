"""A model saved by keras-centernet 0.1.0 still loads and predicts identically (tests/compat/files, made by
tests/compat/make_v0_1_0_files.py before the package was restructured).

The stored outputs came from another processor: float32 results differ in their last bits from one to the next
(~6e-8 here on raw outputs of magnitude <= 0.28, bound 1e-5). The detections are compared row by row except that
detections whose stored scores lie within SCORE_ATOL of each other may come in either order: the stored top-k holds
two detections 1.8e-7 apart, which a processor whose last bits differ by ~1e-7 would swap. Which cells are peaks
(so num_detections) is compared exactly: the closest stored cell to its 3x3 neighbourhood's maximum is 8e-7 away
in probability, >10x the differences seen, and a different peak set is a different prediction."""

import os

import keras
import numpy as np

import keras_centernet  # noqa: F401  (registers the serializable classes)

FILES = os.path.join(os.path.dirname(__file__), "files")
SCORE_ATOL = 1e-5
BOX_ATOL = 1e-3


def _assert_same_detections_up_to_near_ties(predicted, expected):
    """Every stored detection (label, score within SCORE_ATOL, box within BOX_ATOL) matches its own predicted row,
    rows of near-equal scores in any order; padded rows equal."""
    counts = np.asarray(predicted["num_detections"])
    np.testing.assert_array_equal(counts, expected["predict_num_detections"])
    labels, scores, boxes = (np.asarray(predicted[key]) for key in ("labels", "scores", "boxes"))
    for image, count in enumerate(counts):
        assert np.all(np.diff(scores[image, :count]) <= 0), scores[image, :count]  # best first: order beyond ties
        unmatched = list(range(count))
        for row in range(count):
            want = (expected["predict_labels"][image, row], expected["predict_scores"][image, row])
            box = expected["predict_boxes"][image, row]
            match = [other for other in unmatched if labels[image, other] == want[0]
                     and abs(scores[image, other] - want[1]) <= SCORE_ATOL
                     and np.abs(boxes[image, other] - box).max() <= BOX_ATOL]  # fmt: skip
            assert match, (image, row, want, box, labels[image, row], scores[image, row], boxes[image, row])
            unmatched.remove(match[0])
        np.testing.assert_array_equal(labels[image, count:], expected["predict_labels"][image, count:])
        np.testing.assert_array_equal(scores[image, count:], expected["predict_scores"][image, count:])
        np.testing.assert_array_equal(boxes[image, count:], expected["predict_boxes"][image, count:])


def test_a_model_saved_by_0_1_0_loads_and_predicts_identically():
    model = keras.saving.load_model(os.path.join(FILES, "tiny_fpn_v0.1.0.keras"))
    expected = np.load(os.path.join(FILES, "tiny_fpn_v0.1.0_outputs.npz"))
    images = expected["images"]
    raw = model(images, training=False)
    for key in ("heatmap", "size", "offset"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(raw[key]), expected[f"raw_{key}"], atol=1e-5)
    predicted = model.predict(images, verbose=0)
    _assert_same_detections_up_to_near_ties(predicted, expected)
    assert model.class_ids == [3, 17, 90] and model.class_names == ["a", "b", "c"]
