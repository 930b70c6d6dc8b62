"""build_dataset: batches, crowd boxes, letterbox info, determinism, sharding and undecodable images."""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow

CLASS_IDS = [1, 3, 7]


def _example(encode_image, source_id, height=48, width=64, boxes=(), labels=(), is_crowd=None, data=None):
    from keras_centernet.data import tfrecord

    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return tfrecord.encode_example(
        encode_image(height, width, seed=sum(source_id.encode())) if data is None else data,
        image_format="jpeg", height=height, width=width, source_id=source_id,
        boxes=boxes / [width, height, width, height], labels=labels, is_crowd=is_crowd,
    )


@pytest.fixture
def dataset_dir(encode_image, record_writer):
    """records/: mscoco_label_map.pbtxt + tfrecords/coco_train.record-0000{0,1}-of-00002 with 8 images."""
    from keras_centernet.data import write_label_map

    examples = [
        _example(encode_image, str(i), boxes=[(4 + i, 6, 40 + i, 30), (10, 10, 20, 40)], labels=[CLASS_IDS[i % 3], 7])
        for i in range(7)
    ]
    examples.append(_example(encode_image, "7"))  # no boxes
    for shard in range(2):
        record_writer(f"coco_train.record-0000{shard}-of-00002", examples[shard::2])
    folder = os.path.dirname(record_writer("unused", []))
    os.remove(os.path.join(folder, "unused"))
    root = os.path.dirname(folder)
    write_label_map(os.path.join(root, "mscoco_label_map.pbtxt"), {1: "cat", 3: "dog", 7: "bird"})
    return root


def _pattern(root):
    return os.path.join(root, "tfrecords", "coco_train.record-*")


def _batches(dataset):
    return [(images.numpy(), {key: value.numpy() for key, value in targets.items() if key != "image_info"})
            for images, targets in dataset]


def test_training_batches_follow_the_contract(dataset_dir):
    from keras_centernet.data import build_dataset

    dataset = build_dataset(_pattern(dataset_dir), training=True, batch_size=3, image_size=64, max_boxes=5, seed=0)
    batches = _batches(dataset)
    assert len(batches) == 2  # 8 images, drop_remainder for training
    for images, targets in batches:
        assert images.shape == (3, 64, 64, 3) and images.dtype == np.float32
        assert 0 <= images.min() and images.max() <= 255
        boxes, labels = targets["boxes"], targets["labels"]
        assert boxes.shape == (3, 5, 4) and labels.shape == (3, 5) and labels.dtype == np.int32
        valid = labels >= 0
        assert np.all(boxes[~valid] == -1)
        assert np.all(boxes[valid] >= 0) and np.all(boxes[valid] <= 64)
        widths, heights = (boxes[..., 2] - boxes[..., 0])[valid], (boxes[..., 3] - boxes[..., 1])[valid]
        assert np.all(widths >= 2) and np.all(heights >= 2)
        assert set(labels[valid]) <= {0, 1, 2}


def test_same_seed_same_batches_other_seed_other_batches(dataset_dir):
    from keras_centernet.data import build_dataset

    def batches(seed):
        return _batches(build_dataset(_pattern(dataset_dir), training=True, batch_size=4, image_size=32,
                                      seed=seed, max_boxes=4))

    first, again, other = batches(3), batches(3), batches(4)
    for (images, targets), (images_again, targets_again) in zip(first, again, strict=True):
        np.testing.assert_array_equal(images, images_again)
        np.testing.assert_array_equal(targets["boxes"], targets_again["boxes"])
        np.testing.assert_array_equal(targets["labels"], targets_again["labels"])
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))


def test_evaluation_letterboxes_and_keeps_image_info(encode_image, record_writer):
    from keras_centernet.data import build_dataset
    from keras_centernet.preprocessing import boxes_to_original

    path = record_writer("val.record", [
        _example(encode_image, "1", 40, 100, boxes=[(10, 5, 60, 35), (0, 0, 100, 40)], labels=[3, 1],
                 is_crowd=[0, 1]),
        _example(encode_image, "2", 90, 30, boxes=[(3, 4, 20, 80)], labels=[7]),
        _example(encode_image, "3", 20, 20),
    ])
    dataset = build_dataset(path, training=False, batch_size=2, image_size=64, max_boxes=3, label_map=CLASS_IDS)
    batches = list(dataset)
    assert [int(images.shape[0]) for images, _ in batches] == [2, 1]  # no drop_remainder for evaluation
    images, targets = batches[0]
    info = {key: value.numpy() for key, value in targets["image_info"].items()}
    assert list(info["source_id"]) == [b"1", b"2"]
    np.testing.assert_array_equal(info["height"], [40, 90])
    np.testing.assert_array_equal(info["width"], [100, 30])
    np.testing.assert_allclose(info["scale"], [0.64, 64 / 90], rtol=1e-6)
    # the crowd box is not a target; boxes map back to original pixels with / scale
    np.testing.assert_array_equal(targets["labels"].numpy(), [[1, -1, -1], [2, -1, -1]])
    original = boxes_to_original(targets["boxes"][:, :1], info["scale"])
    np.testing.assert_allclose(original[:, 0], [(10, 5, 60, 35), (3, 4, 20, 80)], atol=1e-4)
    assert np.all(images.numpy()[0, 26:] == 0)  # 40 px * 0.64 = 25.6: padded below


def test_undecodable_records_are_skipped_counted_and_named(encode_image, record_writer, capfd):
    from keras_centernet.data import build_dataset

    good = encode_image(48, 64)
    path = record_writer("mixed.record", [
        _example(encode_image, "1", boxes=[(1, 1, 30, 30)], labels=[1]),
        _example(encode_image, "truncated-7", data=good[: len(good) // 3]),
        _example(encode_image, "garbage-8", data=b"\xff\xd8\xff\xe0 this is no jpeg" * 20),
        _example(encode_image, "4", boxes=[(1, 1, 30, 30)], labels=[3]),
    ])
    for training in (False, True):
        dataset = build_dataset(path, training=training, batch_size=1, image_size=32, label_map=CLASS_IDS, seed=1)
        labels = [int(targets["labels"][0, 0]) for _, targets in dataset]
        assert sorted(labels) == [0, 1]
    err = capfd.readouterr().err
    assert 'skipped record with source id "truncated-7" (image does not decode); 1 skipped so far' in err
    assert 'skipped record with source id "garbage-8" (image does not decode); 2 skipped so far' in err


def test_sharding_splits_files_or_records_without_overlap(dataset_dir, encode_image, record_writer):
    from keras_centernet.data import build_dataset

    def source_ids(pattern, shard, label_map=None):
        dataset = build_dataset(pattern, training=False, batch_size=8, image_size=32, shard=shard,
                                label_map=label_map)
        return [s.decode() for _, t in dataset for s in t["image_info"]["source_id"].numpy()]

    by_file = [source_ids(_pattern(dataset_dir), (2, index)) for index in range(2)]
    assert sorted(by_file[0] + by_file[1]) == [str(i) for i in range(8)] and not set(by_file[0]) & set(by_file[1])
    single = record_writer("one.record", [_example(encode_image, str(i)) for i in range(5)])
    by_record = [source_ids(single, (3, index), CLASS_IDS) for index in range(3)]
    assert by_record == [["0", "3"], ["1", "4"], ["2"]]


def test_truncates_to_max_boxes_with_a_warning_and_drops_unknown_ids(encode_image, record_writer, capfd):
    from keras_centernet.data import build_dataset

    boxes = [(i, i, i + 10, i + 10) for i in range(5)]
    path = record_writer("many.record", [_example(encode_image, "many", boxes=boxes, labels=[1, 2, 3, 7, 1])])
    (_, targets), = list(build_dataset(path, training=False, batch_size=1, image_size=64, max_boxes=3,
                                       label_map=CLASS_IDS))
    np.testing.assert_array_equal(targets["labels"].numpy(), [[0, 1, 2]])  # id 2 is not in the label map
    assert 'record "many" has 4 boxes; keeping the first 3' in capfd.readouterr().err


def test_label_map_is_found_beside_the_records_or_asked_for(dataset_dir, record_writer):
    from keras_centernet.data import build_dataset, resolve_class_ids

    assert resolve_class_ids(None, _pattern(dataset_dir)) == CLASS_IDS
    assert resolve_class_ids({5: "a", 2: "b"}, "x") == [2, 5]
    os.remove(os.path.join(dataset_dir, "mscoco_label_map.pbtxt"))
    with pytest.raises(ValueError, match="no label map beside .*pass label_map="):
        build_dataset(_pattern(dataset_dir), training=True, batch_size=2)
    with pytest.raises(FileNotFoundError, match="no TFRecord files match .*nothing-here"):
        build_dataset(os.path.join(dataset_dir, "nothing-here*"), training=True, batch_size=2, label_map=CLASS_IDS)


def test_training_boxes_stay_on_their_objects(record_writer):
    import io

    from PIL import Image

    from keras_centernet.data import build_dataset, tfrecord

    pixels = np.zeros((60, 90, 3), np.uint8)
    box = (20, 15, 50, 45)
    pixels[box[1]:box[3], box[0]:box[2]] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    record = tfrecord.encode_example(buffer.getvalue(), image_format="png", height=60, width=90, source_id="sq",
                                     boxes=[[20 / 90, 15 / 60, 50 / 90, 45 / 60]], labels=[1])
    path = record_writer("square.record", [record] * 16)
    dataset = build_dataset(path, training=True, batch_size=16, image_size=64, label_map=[1], seed=5,
                            color_jitter=0.0, shuffle_buffer=0)
    images, targets = next(iter(dataset))
    images, boxes = images.numpy()[..., 0], targets["boxes"].numpy()
    flipped = 0
    for image, (xmin, ymin, xmax, ymax) in zip(images, boxes[:, 0], strict=True):
        assert xmax - xmin >= 2 and ymax - ymin >= 2
        inner = image[int(np.ceil(ymin)) + 1:int(ymax) - 1, int(np.ceil(xmin)) + 1:int(xmax) - 1]
        assert inner.size and inner.min() > 250
        outside = image.copy()
        outside[max(int(ymin) - 1, 0):int(np.ceil(ymax)) + 1, max(int(xmin) - 1, 0):int(np.ceil(xmax)) + 1] = 0
        assert outside.max() < 5
        flipped += int((xmin + xmax) / 2 > 32)  # the square sits left of centre unless flipped (or shifted)
    assert 0 < flipped < 16


def test_training_shards_are_disjoint_without_a_seed(encode_image, record_writer):
    from keras_centernet.data import build_dataset

    records = [_example(encode_image, str(i), boxes=[(5, 5, 40, 40)], labels=[i + 1]) for i in range(6)]
    path = record_writer("six.record", records)

    def labels(index):
        dataset = build_dataset(path, training=True, batch_size=1, image_size=32, label_map=list(range(1, 7)),
                                shard=(2, index), scale_range=(1.0, 1.0))
        return [int(targets["labels"][0, 0]) for _, targets in dataset]

    first, second = labels(0), labels(1)
    assert sorted(first + second) == list(range(6))


def _stream(root, start, batches, shard=None, batch_size=3):
    import tensorflow as tf

    from keras_centernet.data import build_dataset

    tf.random.set_seed(3)  # as train() does (keras.utils.set_random_seed): a global seed must not get in the way
    try:
        dataset = build_dataset(_pattern(root), training=True, batch_size=batch_size, image_size=64, max_boxes=5,
                                seed=7, repeat=True, shard=shard, shuffle_buffer=4, start=start)  # fmt: skip
        return _batches(dataset.take(batches))
    finally:
        tf.random.set_seed(None)  # no global seed leaks into the tests after this one


@pytest.mark.parametrize("shard", [None, (2, 1), (3, 0)])
def test_a_stream_built_at_a_later_step_continues_the_one_built_at_zero(dataset_dir, shard):
    """8 records (per worker 4, or every third: 3), batch 3: 7 batches cross two or more passes; the stream built
    at example 3 x k equals batches k.. of the stream built at 0, images and targets (augmentation included)."""
    full = _stream(dataset_dir, 0, 7, shard)
    for k in (1, 3, 4):
        later = _stream(dataset_dir, 3 * k, 7 - k, shard)
        for (images, targets), (expected_images, expected_targets) in zip(later, full[k:], strict=True):
            np.testing.assert_array_equal(images, expected_images)
            np.testing.assert_array_equal(targets["boxes"], expected_targets["boxes"])
            np.testing.assert_array_equal(targets["labels"], expected_targets["labels"])


def test_each_pass_has_its_own_order_and_every_record_once(dataset_dir):
    """Over 8 records, passes 1, 2 and 3 each hold every record once, in orders that differ."""
    import tensorflow as tf

    from keras_centernet.data import pipeline, tfrecord

    files = sorted(tf.io.gfile.glob(_pattern(dataset_dir)))
    stream = pipeline.seeded_passes(files, seed=7, shard=None, shuffle_buffer=4, cycle_length=8).take(24)
    ids = [tfrecord.parse_example(record)["source_id"].numpy().decode() for record, _ in stream]
    passes = [ids[8 * p: 8 * p + 8] for p in range(3)]
    assert all(sorted(order) == [str(i) for i in range(8)] for order in passes)
    assert len({tuple(order) for order in passes}) == 3


def test_start_without_a_seeded_repeated_training_stream_is_refused(dataset_dir):
    from keras_centernet.data import build_dataset

    with pytest.raises(ValueError, match="start=3 needs training=True, repeat=True and a seed"):
        build_dataset(_pattern(dataset_dir), training=True, batch_size=3, image_size=64, start=3)
