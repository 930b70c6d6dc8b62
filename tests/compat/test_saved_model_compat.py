"""A model saved by keras-centernet 0.1.0 still loads and predicts identically (tests/compat/files, made by
tests/compat/make_v0_1_0_files.py before the package was restructured)."""

import os

import keras
import numpy as np

import keras_centernet  # noqa: F401  (registers the serializable classes)

FILES = os.path.join(os.path.dirname(__file__), "files")


def test_a_model_saved_by_0_1_0_loads_and_predicts_identically():
    model = keras.saving.load_model(os.path.join(FILES, "tiny_fpn_v0.1.0.keras"))
    expected = np.load(os.path.join(FILES, "tiny_fpn_v0.1.0_outputs.npz"))
    images = expected["images"]
    raw = model(images, training=False)
    for key in ("heatmap", "size", "offset"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(raw[key]), expected[f"raw_{key}"], atol=1e-5)
    predicted = model.predict(images, verbose=0)
    np.testing.assert_array_equal(np.asarray(predicted["num_detections"]), expected["predict_num_detections"])
    np.testing.assert_allclose(np.asarray(predicted["scores"]), expected["predict_scores"], atol=1e-5)
    np.testing.assert_allclose(np.asarray(predicted["boxes"]), expected["predict_boxes"], atol=1e-3)
    np.testing.assert_array_equal(np.asarray(predicted["labels"]), expected["predict_labels"])
    assert model.class_ids == [3, 17, 90] and model.class_names == ["a", "b", "c"]
