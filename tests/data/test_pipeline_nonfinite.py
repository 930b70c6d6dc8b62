"""build_dataset drops boxes with NaN / infinite coordinates, counts them and names the record."""

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow

CLASS_IDS = [1, 3, 7]


def _record(encode_image, source_id, boxes, labels, height=48, width=64):
    from keras_centernet.data import tfrecord

    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return tfrecord.encode_example(
        encode_image(height, width, seed=len(source_id)), image_format="jpeg", height=height, width=width,
        source_id=source_id, boxes=boxes / [width, height, width, height], labels=labels,
        area=np.ones(len(labels), np.float32),
    )


@pytest.mark.parametrize("training", [False, True])
def test_nan_and_inf_boxes_are_dropped_counted_and_named(encode_image, record_writer, capfd, training):
    from keras_centernet.data import build_dataset

    path = record_writer("nonfinite.record", [
        _record(encode_image, "nan-3", [(np.nan, 4, 30, 30), (8, 8, 40, 40)], [7, 3]),
        _record(encode_image, "inf-4", [(2, 2, np.inf, 20), (4, 4, 44, 36), (1, -np.inf, 9, 9)], [1, 1, 7]),
    ])
    dataset = build_dataset(path, training=training, batch_size=2, image_size=64, max_boxes=4,
                            label_map=CLASS_IDS, seed=0, scale_range=(1.0, 1.0), flip_probability=0.0,
                            color_jitter=0.0)
    batches = list(dataset)
    assert len(batches) == 1
    _, targets = batches[0]
    boxes, labels = targets["boxes"].numpy(), targets["labels"].numpy()
    assert np.all(np.isfinite(boxes))
    # one good box per record: "nan-3" keeps id 3 (contiguous 1), "inf-4" keeps id 1 (contiguous 0)
    assert sorted(map(tuple, labels.tolist())) == [(0, -1, -1, -1), (1, -1, -1, -1)]
    np.testing.assert_array_equal(boxes[:, 1:], -1.0)
    if not training:  # letterbox of 64x48 into 64: scale 1, boxes in place
        rows = {source_id.decode(): row for row, source_id in enumerate(targets["image_info"]["source_id"].numpy())}
        np.testing.assert_allclose(boxes[rows["nan-3"], 0], [8, 8, 40, 40], atol=1e-4)
        np.testing.assert_allclose(boxes[rows["inf-4"], 0], [4, 4, 44, 36], atol=1e-4)
    err = capfd.readouterr().err  # the running count depends on the order the records come in (shuffled)
    assert 'dropped 1 box(es) with NaN or infinite coordinates from record with source id "nan-3" ;' in err
    assert 'dropped 2 box(es) with NaN or infinite coordinates from record with source id "inf-4" ;' in err
    assert "; 3 dropped so far" in err and ("; 1 dropped so far" in err) != ("; 2 dropped so far" in err)


def test_drop_nonfinite_boxes_keeps_per_box_fields_aligned():
    import tensorflow as tf

    from keras_centernet.data.pipeline import drop_nonfinite_boxes

    example = {
        "boxes": tf.constant([[0.1, 0.1, 0.5, 0.5], [np.nan, 0, 1, 1], [0.2, 0.2, 0.3, np.inf], [0, 0, 1, 1]],
                             tf.float32),
        "labels": tf.constant([1, 2, 3, 4]),
        "is_crowd": tf.constant([False, True, False, True]),
        "area": tf.constant([1.0, 2.0, 3.0, 4.0]),
        "source_id": tf.constant("x"),
    }
    cleaned = drop_nonfinite_boxes(example)
    np.testing.assert_array_equal(cleaned["labels"], [1, 4])
    np.testing.assert_array_equal(cleaned["is_crowd"], [False, True])
    np.testing.assert_array_equal(cleaned["area"], [1.0, 4.0])
    np.testing.assert_allclose(cleaned["boxes"], [[0.1, 0.1, 0.5, 0.5], [0, 0, 1, 1]])
    assert int(cleaned["nonfinite"]) == 2 and cleaned["source_id"].numpy() == b"x"
