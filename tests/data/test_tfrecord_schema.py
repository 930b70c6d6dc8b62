"""The OD API tf.Example schema: encode -> parse round trip and records without optional keys."""

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow


def test_encode_parse_round_trip(encode_image):
    import tensorflow as tf

    from keras_centernet.data import tfrecord

    data = encode_image(30, 40)
    boxes = np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]], np.float32)
    serialized = tfrecord.encode_example(
        data, image_format="jpeg", height=30, width=40, source_id=42, filename="a.jpg", boxes=boxes,
        labels=[3, 90], texts=["dog", "toothbrush"], is_crowd=[0, 1], area=[12.5, 1200.0],
    )
    parsed = tfrecord.parse_example(tf.constant(serialized))
    assert parsed["encoded"].numpy() == data
    assert parsed["format"].numpy() == b"jpeg"
    assert (parsed["height"].numpy(), parsed["width"].numpy()) == (30, 40)
    assert parsed["source_id"].numpy() == b"42"
    assert parsed["filename"].numpy() == b"a.jpg"
    np.testing.assert_array_equal(parsed["boxes"].numpy(), boxes)
    np.testing.assert_array_equal(parsed["labels"].numpy(), [3, 90])
    np.testing.assert_array_equal(parsed["is_crowd"].numpy(), [False, True])
    np.testing.assert_array_equal(parsed["area"].numpy(), [12.5, 1200.0])
    example = tf.train.Example.FromString(serialized)
    assert example.features.feature[tfrecord.TEXT].bytes_list.value == [b"dog", b"toothbrush"]
    assert example.features.feature[tfrecord.SHA256].bytes_list.value[0].decode() != ""


def test_parse_record_without_optional_keys_and_without_boxes():
    import tensorflow as tf

    from keras_centernet.data import tfrecord

    feature = {
        tfrecord.ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"])),
        tfrecord.XMIN: tf.train.Feature(float_list=tf.train.FloatList(value=[0.25])),
        tfrecord.YMIN: tf.train.Feature(float_list=tf.train.FloatList(value=[0.5])),
        tfrecord.XMAX: tf.train.Feature(float_list=tf.train.FloatList(value=[0.75])),
        tfrecord.YMAX: tf.train.Feature(float_list=tf.train.FloatList(value=[1.0])),
        tfrecord.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[5])),
    }
    serialized = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    parsed = tfrecord.parse_example(tf.constant(serialized))
    np.testing.assert_array_equal(parsed["boxes"].numpy(), [[0.25, 0.5, 0.75, 1.0]])
    np.testing.assert_array_equal(parsed["is_crowd"].numpy(), [False])
    np.testing.assert_array_equal(parsed["area"].numpy(), [0.0])
    empty = tfrecord.encode_example(b"x", image_format="png", height=2, width=2, source_id="e")
    parsed = tfrecord.parse_example(tf.constant(empty))
    assert parsed["boxes"].shape == (0, 4) and parsed["labels"].shape == (0,)


def test_encode_rejects_mismatched_lengths():
    from keras_centernet.data import tfrecord

    with pytest.raises(ValueError, match="record 'r7': 1 labels for 2 boxes"):
        tfrecord.encode_example(b"x", image_format="png", height=2, width=2, source_id="r7",
                                boxes=[[0, 0, 1, 1], [0, 0, 0.5, 0.5]], labels=[1])
