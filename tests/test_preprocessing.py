"""preprocessing.Letterbox: box maps both ways (numpy and tf), clipping, class map, config round trip, model size."""

import keras
import numpy as np
import pytest

from keras_centernet.preprocessing import DEFAULT_IMAGE_SIZE, Letterbox, boxes_to_input, boxes_to_original


def test_boxes_round_trip_and_clip_numpy():
    letterbox = Letterbox(512, [7, 42], ["dark", "bright"])
    assert letterbox.scale(480, 640) == pytest.approx(0.8)
    np.testing.assert_allclose(letterbox.boxes_to_input([[100, 50, 200, 150]], 0.8), [[80, 40, 160, 120]])
    np.testing.assert_allclose(letterbox.boxes_to_original([[80, 40, 160, 120]], 0.8), [[100, 50, 200, 150]])
    np.testing.assert_allclose(boxes_to_original([[-5, 0, 600, 500]], 0.8, 480, 640), [[0, 0, 640, 480]])
    with pytest.raises(ValueError, match="positive"):
        letterbox.scale(0, 10)


def test_batched_inverse_uses_each_images_scale_and_size():
    boxes = np.array([[[10, 10, 700, 900.0]], [[1, 2, 3, 4]]])
    out = boxes_to_original(boxes, [0.5, 1.0], [100, 2], [200, 3])
    np.testing.assert_allclose(out, [[[20, 20, 200, 100]], [[1, 2, 3, 2]]])
    np.testing.assert_allclose(boxes_to_input(boxes_to_original(boxes, [0.5, 2.0]), [0.5, 2.0]), boxes)


@pytest.mark.tensorflow
def test_tensorflow_boxes_take_the_same_path():
    import tensorflow as tf

    boxes = np.array([[[10, 10, 700, 900.0]], [[1, 2, 3, 4]]], np.float32)
    expected = boxes_to_original(boxes, [0.5, 1.0], [100, 2], [200, 3])
    got = boxes_to_original(tf.constant(boxes), tf.constant([0.5, 1.0]), tf.constant([100, 2]), tf.constant([200, 3]))
    np.testing.assert_allclose(got.numpy(), expected)
    np.testing.assert_allclose(boxes_to_input(tf.constant(boxes[0]), tf.constant(0.5)).numpy(), boxes[0] * 0.5)
    assert float(Letterbox(64).scale(tf.constant(90), tf.constant(30))) == Letterbox(64).scale(90, 30)


def test_class_map_both_ways():
    letterbox = Letterbox(64, [3, 17, 90], ["a", "b", "c"])
    np.testing.assert_array_equal(letterbox.class_ids_of([[0, -1, 2]]), [[3, -1, 90]])
    assert letterbox.class_names_of([2, 0]) == ["c", "a"] and letterbox.num_classes == 3
    with pytest.raises(ValueError, match="no category id"):
        letterbox.class_ids_of([3])


def test_config_round_trip():
    letterbox = Letterbox(96, [3, 17], ["a", "b"])
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(letterbox))
    assert isinstance(again, Letterbox) and again.get_config() == letterbox.get_config()
    assert Letterbox(32, [5]).class_names == ["5"]


def test_model_carries_its_input_size(tmp_path):
    from keras_centernet.models.centernet import CenterNet

    model = CenterNet(2, backbone="tiny", neck="deconv", head_channels=8, image_size=64)
    assert model.get_config()["image_size"] == 64 and model.preprocessor.image_size == 64
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.image_size == 64 and loaded.preprocessor.get_config() == model.preprocessor.get_config()
    old = CenterNet(2, backbone="tiny", neck="deconv", head_channels=8)
    assert old.image_size is None and old.preprocessor.image_size == DEFAULT_IMAGE_SIZE
    assert Letterbox.for_model(old, 128).image_size == 128
