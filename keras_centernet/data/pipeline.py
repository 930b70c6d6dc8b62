"""``build_dataset``: sharded OD API TFRecords -> batches for ``model.fit`` / ``model.evaluate``.

Stages, each a named function below: ``read_records`` (shard files (Horovod) -> shuffle files -> parallel
interleave of records -> shuffle -> repeat) -> ``parse`` (boxes with a NaN or infinite coordinate are dropped,
``drop_nonfinite_boxes``) -> ``decode`` (a record whose image does not decode is logged with its source id,
counted and skipped; records that had non-finite boxes are logged and counted) -> ``augment_example`` (training)
or ``letterbox_example`` (evaluation, ``preprocessing.Letterbox``) -> ``pad_boxes`` -> ``batch``.
"""

import functools
import os
import sys

import tensorflow as tf

from keras_centernet.data import augment, layout, tfrecord
from keras_centernet.data.label_map import class_ids as _class_ids
from keras_centernet.preprocessing import Letterbox

AUTOTUNE = tf.data.AUTOTUNE
_RECORD_BUFFER_BYTES = 8 << 20


def resolve_class_ids(label_map, file_pattern):
    """Sorted category ids for a ``label_map`` argument of ``build_dataset``.

    ``label_map``: a ``.pbtxt`` path, ``{id: name}``, or a list of ids. None: the label map beside the shards
    (``DIR/mscoco_label_map.pbtxt`` for ``DIR/tfrecords/*``, see layout.find_label_map); without one this
    raises ValueError, since guessing would silently mislabel datasets whose ids have gaps (COCO).
    """
    if label_map is None:
        patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else list(file_pattern)
        label_map = layout.find_label_map(os.fspath(patterns[0]))
        if label_map is None:
            raise ValueError(
                f"no label map beside {patterns[0]!r} (looked for {layout.LABEL_MAP_FILENAME} in the folder "
                "above the shards and in theirs): pass label_map= a .pbtxt path, {id: name} or a list of ids"
            )
    ids = _class_ids(label_map)
    if not ids:
        raise ValueError(f"label map {label_map!r} has no classes")
    return ids


def _list_files(file_pattern):
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else list(file_pattern)
    files = sorted({path for pattern in patterns for path in tf.io.gfile.glob(os.fspath(pattern))})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_pattern!r}")
    return files


def decode_image(encoded):
    """JPEG / PNG / GIF / BMP bytes -> uint8 [height, width, 3] (grayscale and CMYK become RGB)."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def _decode_guarded(example):
    """A one-element dataset: the example with its decoded "image" and "ok" True, or, when the image does
    not decode, a 1x1 placeholder with "ok" False. Only the decode runs under ``ignore_errors``."""
    fields = {key: value for key, value in example.items() if key != "encoded"}

    def decoded(encoded):
        return {**fields, "image": decode_image(encoded), "ok": tf.constant(True)}

    fallback = {**fields, "image": tf.zeros([1, 1, 3], tf.uint8), "ok": tf.constant(False)}
    attempt = tf.data.Dataset.from_tensors(example["encoded"]).map(decoded).ignore_errors()
    return attempt.concatenate(tf.data.Dataset.from_tensors(fallback)).take(1)


def _count_undecodable(count, example):
    """scan step: count and log (once each, with its source id) records whose image did not decode."""
    count = count + tf.cast(tf.logical_not(example["ok"]), tf.int64)

    def log():
        tf.print(
            "keras_centernet.data: skipped record with source id",
            example["source_id"],
            "(image does not decode);",
            count,
            "skipped so far",
            output_stream=sys.stderr,
        )
        return tf.constant(True)

    tf.cond(example["ok"], lambda: tf.constant(True), log)
    return count, example


def drop_nonfinite_boxes(example):
    """Removes boxes with a NaN or infinite coordinate (and their labels, is_crowd, area) from a parsed
    example; ``"nonfinite"`` (int64 scalar) says how many were removed, for ``_count_nonfinite``."""
    keep = tf.reduce_all(tf.math.is_finite(example["boxes"]), axis=1)
    cleaned = {key: tf.boolean_mask(example[key], keep) for key in ("boxes", "labels", "is_crowd", "area")}
    dropped = tf.size(keep, out_type=tf.int64) - tf.math.count_nonzero(keep, dtype=tf.int64)
    return {**example, **cleaned, "nonfinite": dropped}


def _count_nonfinite(count, example):
    """scan step: count and log (with its source id) each record that had boxes with non-finite coordinates."""
    count = count + example["nonfinite"]

    def log():
        tf.print(
            "keras_centernet.data: dropped", example["nonfinite"], "box(es) with NaN or infinite coordinates from "
            "record with source id", example["source_id"], ";", count, "dropped so far",
            output_stream=sys.stderr,
        )
        return tf.constant(True)

    tf.cond(example["nonfinite"] > 0, log, lambda: tf.constant(True))
    return count, example


def pad_boxes(boxes, labels, max_boxes, source_id=""):
    """Pad boxes [N, 4] / labels [N] to [max_boxes, 4] / [max_boxes] with -1; truncate (with a logged
    warning naming the record) when N > max_boxes."""
    count = tf.shape(boxes)[0]

    def warn():
        tf.print(
            "keras_centernet.data: record", source_id, "has", count, "boxes; keeping the first", max_boxes,
            "(raise max_boxes)", output_stream=sys.stderr,
        )
        return tf.constant(True)

    tf.cond(count > max_boxes, warn, lambda: tf.constant(True))
    boxes, labels = boxes[:max_boxes], labels[:max_boxes]
    padding = max_boxes - tf.shape(boxes)[0]
    boxes = tf.pad(boxes, [[0, padding], [0, 0]], constant_values=-1.0)
    labels = tf.pad(labels, [[0, padding]], constant_values=-1)
    return tf.ensure_shape(boxes, [max_boxes, 4]), tf.ensure_shape(labels, [max_boxes])


def _targets_in_pixels(example, table):
    """Non-crowd boxes of known classes in pixels of the decoded image, and contiguous labels."""
    shape = tf.shape(example["image"])
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    boxes = example["boxes"] * tf.stack([width, height, width, height])
    labels = table.lookup(example["labels"])
    keep = tf.logical_and(tf.logical_not(example["is_crowd"]), labels >= 0)
    return tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)


def worker_files(files, shard):
    """(this worker's files, record shard or None): whole files ``files[index::count]`` when there are at least
    ``count`` files, else every file and ``(count, index)``: every count-th record of their common order."""
    if shard is None:
        return list(files), None
    count, index = (int(value) for value in shard)
    if not 0 <= index < count:
        raise ValueError(f"shard={shard}: need 0 <= index < count")
    if len(files) >= count:
        return list(files)[index::count], None
    return list(files), (count, index)


def records_per_pass(files, record_shard):
    """Records one pass over ``files`` gives this worker (every count-th record with ``record_shard``)."""
    from keras_centernet.data.split_check import count_records

    total = sum(count_records(path) for path in files)
    if record_shard is None:
        return total
    count, index = record_shard
    return max(0, (total - index + count - 1) // count)


def _interleaved(files, *, record_shard, cycle_length, deterministic, shuffle_files=False, file_seed=None):
    """Records of ``files`` (a list of paths, or a [N] string tensor of them in their order), interleaved one at a
    time; with ``shuffle_files`` the file order is shuffled first (``file_seed``), unless record-sharded."""
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files and record_shard is None:  # (record sharding needs the same order on every worker)
        dataset = dataset.shuffle(len(files), seed=file_seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        lambda path: tf.data.TFRecordDataset(path, buffer_size=_RECORD_BUFFER_BYTES),
        cycle_length=max(1, min(cycle_length, len(files))),
        block_length=1,
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic or record_shard is not None,  # every worker must cut the same record order
    )
    return dataset.shard(*record_shard) if record_shard is not None else dataset


def pass_seed(seed, pass_index):
    """The stateless seed ([2] int64 tensor) of pass ``pass_index`` over the training records of run ``seed``."""
    return tf.stack([tf.constant(int(seed), tf.int64), tf.cast(pass_index, tf.int64)])


def _stateless_pass(files, seed, *, record_shard, shuffle_buffer, cycle_length):
    """One pass's (record, int64 random) pairs, a function of ``seed`` ([2] int64) only: the file order (unless
    record-sharded) and each block of ``shuffle_buffer`` records permuted by stateless ops, one random per record.
    (Dataset.shuffle cannot take a per-pass seed tensor while a global TensorFlow seed is set.)"""
    paths = tf.constant(files)
    if record_shard is None:  # (record sharding needs the same order on every worker)
        paths = tf.gather(paths, tf.random.experimental.stateless_shuffle(tf.range(len(files)), seed=seed))
    records = _interleaved(paths, record_shard=record_shard, cycle_length=cycle_length, deterministic=True)
    if shuffle_buffer:
        blocks = records.batch(shuffle_buffer).enumerate()
        records = blocks.map(lambda index, block: tf.random.experimental.stateless_shuffle(
            block, seed=tf.random.experimental.stateless_fold_in(seed, index))).unbatch()  # fmt: skip

    def with_random(index, record):
        random = tf.random.stateless_uniform([], seed=tf.random.experimental.stateless_fold_in(seed, -1 - index),
                                             minval=None, maxval=None, dtype=tf.int64)  # fmt: skip
        return record, random

    return records.enumerate().map(with_random)


def seeded_passes(files, *, seed, shard, shuffle_buffer, cycle_length, start=0):
    """Training (record, int64 random) pairs, pass after pass, each pass a function of (``seed``, pass index)
    only: its file order, record shuffle (blocks of ``shuffle_buffer``) and augmentation randoms. So the stream
    from element ``start`` on (``start`` = examples this worker already drew, e.g. steps x its batch) is the same
    whether it is built at 0 or at ``start``: a resumed run reads exactly what the uninterrupted run reads. Skips
    at most one pass of raw records (no decoding)."""
    files, record_shard = worker_files(files, shard)
    per_pass = records_per_pass(files, record_shard)
    if per_pass < 1:
        raise ValueError(f"shard={shard} of {len(files)} file(s) holds no records")
    first_pass, offset = divmod(int(start), per_pass)
    passes = tf.data.Dataset.range(first_pass, 2**62).flat_map(
        lambda pass_index: _stateless_pass(files, pass_seed(seed, pass_index), record_shard=record_shard,
                                           shuffle_buffer=shuffle_buffer, cycle_length=cycle_length))  # fmt: skip
    return passes.skip(offset)


def read_records(files, *, training, seed, shard, shuffle_buffer, repeat, cycle_length, deterministic):
    """Serialized records of ``files``: this worker's ``shard`` (see ``worker_files``), files and records shuffled
    when ``training``, repeated when ``repeat`` (each repetition reshuffled at random: ``seeded_passes`` is the
    reproducible form)."""
    files, record_shard = worker_files(files, shard)
    dataset = _interleaved(files, record_shard=record_shard, cycle_length=cycle_length, deterministic=deterministic,
                           shuffle_files=training, file_seed=seed)  # fmt: skip
    if training and shuffle_buffer:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return dataset.repeat() if repeat else dataset


def with_randoms(dataset, *, training, seed):
    """(record, int64 random) pairs: a seeded random per record for training's augmentation, 0 otherwise."""
    if training:
        return tf.data.Dataset.zip(dataset, tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True))
    return dataset.map(lambda record: (record, tf.constant(0, tf.int64)))


def parse(record, random):
    """A serialized record -> the parsed example without non-finite boxes, with its augmentation ``"random"``."""
    return {**drop_nonfinite_boxes(tfrecord.parse_example(record)), "random": random}


def decode(dataset, *, cycle_length, num_parallel_calls, deterministic):
    """Parsed examples -> examples with a decoded "image"; undecodable records and non-finite boxes are logged
    and counted, and the undecodable records skipped."""
    dataset = dataset.interleave(
        _decode_guarded,
        cycle_length=max(cycle_length, os.cpu_count() or 1),
        block_length=1,
        num_parallel_calls=num_parallel_calls,
        deterministic=deterministic,
    )
    dataset = dataset.scan(tf.constant(0, tf.int64), _count_undecodable)
    dataset = dataset.filter(lambda example: example["ok"])
    return dataset.scan(tf.constant(0, tf.int64), _count_nonfinite)


def _colour(seeds, options):
    """Per-pixel colour augmentation of ``options`` (an AugmentationConfig) for ``augment.scale_crop``'s
    ``pixel_fn`` or the object crop: the paper's jitter, the OD API's ops, PCA lighting; None when all are off."""
    od_api = {"hue_delta": options.hue_delta, "contrast_range": options.contrast_range,
              "saturation_range": options.saturation_range, "brightness_delta": options.brightness_delta}
    unit = (1.0, 1.0)  # a (min, max) factor range that changes nothing
    od_api_on = bool(options.hue_delta or options.brightness_delta or options.contrast_range != unit
                     or options.saturation_range != unit)  # fmt: skip
    if not (options.color_jitter or options.pca_lighting or od_api_on):
        return None

    def colour(pixels):  # on the image pixels only, before the zero padding of the crop
        jitter = options.color_jitter
        if jitter:
            pixels = augment.color_jitter(pixels, seeds[2], jitter, jitter, jitter)
        if od_api_on:
            pixels = augment.od_api_colour(pixels, tf.random.experimental.stateless_fold_in(seeds[2], 1), **od_api)
        if options.pca_lighting:
            pixels = augment.pca_lighting(pixels, seeds[3])
        return pixels

    return colour


def drop_small_boxes(boxes, labels, image_size, min_box_size):
    """Clip boxes [N, 4] to the ``image_size`` square and drop those narrower or shorter than ``min_box_size``."""
    boxes = augment.clip_boxes(boxes, image_size, image_size)
    keep = augment.box_size_mask(boxes, min_box_size)
    return tf.boolean_mask(boxes, keep), tf.boolean_mask(labels, keep)


def _extent(image):
    """[1, 4] xyxy: the whole ``image``, (0, 0, width, height) in its pixels."""
    shape = tf.cast(tf.shape(image), tf.float32)
    return tf.stack([0.0, 0.0, shape[1], shape[0]])[tf.newaxis]


def scale_crop(image, boxes, labels, seed, *, options, letterbox, colour):
    """The paper's geometry: random scale + square crop to the input size, colour on the visible pixels. Returns
    (image, boxes, labels, image_box [4]: where the image's pixels landed, unclipped; the rest is zero padding)."""
    boxes = tf.concat([boxes, _extent(image)], axis=0)  # the image's extent goes through the same mapping
    image, boxes = augment.random_scale_crop(image, boxes, seed, letterbox.image_size, options.scale_range, colour)
    return image, boxes[:-1], labels, boxes[-1]


def object_crop(image, boxes, labels, seed, *, options, letterbox, colour):
    """The OD API's geometry: random_crop_image, then random_absolute_pad_image and the letterbox to the input
    size in one resample, colour on the crop's pixels (as the OD API: before the pad). image_box: the padded image
    inside the letterbox, (0, 0, size * padded width / longer padded side, size * padded height / ...): the OD API's
    true image shape, where the random pad is image and only the letterbox is padding."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    image, boxes, labels = augment.random_object_crop(
        image, boxes, labels, seeds[0], options.crop_min_object_covered, options.crop_aspect_range,
        options.crop_area_range, options.crop_overlap_thresh, options.crop_keep_probability,
    )  # fmt: skip
    pad, _ = augment.random_pad_amounts(seeds[1], options.max_pad)  # the draws pad_and_letterbox makes from seeds[1]
    padded = tf.cast(tf.shape(image)[:2] + pad, tf.float32)
    image_box = tf.concat([[0.0, 0.0], padded[::-1] * letterbox.image_size / tf.reduce_max(padded)], axis=0)
    image, boxes = augment.pad_and_letterbox(image, boxes, seeds[1], options.max_pad, letterbox.image_size, colour)
    return image, boxes, labels, image_box


GEOMETRY = {"scale": scale_crop, "object": object_crop}  # AugmentationConfig.crop -> the stage's geometry


def augment_example(example, *, table, letterbox, max_boxes, options):
    """Training stage: flip, the ``options.crop`` geometry to the input size with colour augmentation, small
    boxes dropped, boxes padded (``options``: an AugmentationConfig). Returns (float32 [S, S, 3] 0..255,
    {"boxes" [max_boxes, 4], "labels" [max_boxes], "image_box" [4]: the real image inside the input, xyxy input
    pixels, for CenterNet(mask_padding=True)})."""
    seeds = tf.random.experimental.stateless_split(tf.stack([example["random"], tf.constant(0, tf.int64)]), 4)
    boxes, labels = _targets_in_pixels(example, table)
    image = example["image"]
    if options.flip_probability:  # on the uint8 input: a quarter of the bytes of the float output
        image, boxes = augment.random_flip(image, boxes, seeds[1], options.flip_probability)
    geometry = GEOMETRY[options.crop]
    image, boxes, labels, image_box = geometry(image, boxes, labels, seeds[0], options=options, letterbox=letterbox,
                                               colour=_colour(seeds, options))  # fmt: skip
    size = letterbox.image_size
    boxes, labels = drop_small_boxes(boxes, labels, size, options.min_box_size)
    boxes, labels = pad_boxes(boxes, labels, max_boxes, example["source_id"])
    image_box = augment.clip_boxes(image_box[tf.newaxis], size, size)[0]
    return tf.ensure_shape(image, [size, size, 3]), {"boxes": boxes, "labels": labels, "image_box": image_box}


def letterbox_example(example, *, table, letterbox, max_boxes):
    """Evaluation stage: boxes clipped to the image, ``letterbox`` (a ``preprocessing.Letterbox``) on the image
    and boxes, boxes padded, ``image_info`` {"source_id", "height", "width", "scale"} kept, ``image_box`` the
    letterboxed image (0, 0, width x scale, height x scale)."""
    boxes, labels = _targets_in_pixels(example, table)
    shape = tf.shape(example["image"])
    image, scale = letterbox.letterbox_image_tf(example["image"])
    boxes = augment.clip_boxes(boxes, shape[0], shape[1])
    boxes, labels = pad_boxes(letterbox.boxes_to_input(boxes, scale), labels, max_boxes, example["source_id"])
    info = {"source_id": example["source_id"], "height": shape[0], "width": shape[1], "scale": scale}
    image = tf.ensure_shape(image, [letterbox.image_size, letterbox.image_size, 3])
    size = letterbox.image_size
    image_box = augment.clip_boxes(_extent(example["image"]) * tf.cast(scale, tf.float32), size, size)[0]
    return image, {"boxes": boxes, "labels": labels, "image_info": info, "image_box": image_box}


def augmentation_options(keywords):
    """``build_dataset``'s augmentation keywords -> an ``AugmentationConfig`` (TypeError naming an unknown one)."""
    from keras_centernet.training.config import AugmentationConfig

    try:
        options = AugmentationConfig(**keywords)
    except TypeError as error:
        raise TypeError(f"build_dataset: {error} (augmentation keywords: AugmentationConfig's fields)") from None
    if options.crop not in GEOMETRY:
        raise ValueError(f"build_dataset: crop={options.crop!r}: expected one of {sorted(GEOMETRY)}")
    return options


def _records_and_randoms(files, *, training, seed, shard, shuffle_buffer, repeat, cycle_length, deterministic, start):
    """(record, random) pairs: ``seeded_passes`` for seeded, repeated training, else ``read_records``."""
    if training and repeat and seed is not None:
        return seeded_passes(files, seed=seed, shard=shard, shuffle_buffer=shuffle_buffer, cycle_length=cycle_length,
                             start=start)  # fmt: skip
    if start:
        raise ValueError(f"build_dataset: start={start} needs training=True, repeat=True and a seed")
    dataset = read_records(files, training=training, seed=seed, shard=shard, shuffle_buffer=shuffle_buffer,
                           repeat=repeat, cycle_length=cycle_length, deterministic=deterministic)  # fmt: skip
    return with_randoms(dataset, training=training, seed=seed)


def _check_sizes(batch_size, image_size, max_boxes):
    for name, value in (("batch_size", batch_size), ("image_size", image_size), ("max_boxes", max_boxes)):
        if int(value) < 1:
            raise ValueError(f"build_dataset: {name} must be >= 1, got {value}")


def build_dataset(
    file_pattern,
    *,
    training,
    batch_size,
    image_size=512,
    max_boxes=128,
    label_map=None,
    shard=None,
    seed=None,
    shuffle_buffer=1024,
    drop_remainder=None,
    repeat=False,
    cycle_length=8,
    num_parallel_calls=AUTOTUNE,
    start=0,
    **augmentation,
):
    """A ``tf.data.Dataset`` of batches from OD API TFRecords.

    Args:
        file_pattern: glob (or list of globs) of TFRecord shards, e.g. ``DIR/tfrecords/coco_train.record-*``.
        training: True: shuffle and ``augment_example`` (the ``augmentation`` keywords); False: records in a
            fixed order, boxes clipped to the image, letterbox to ``image_size`` (``preprocessing.Letterbox``),
            ``image_info`` kept.
        batch_size: images per batch (per Horovod worker when sharded).
        image_size: side of the square model input (a multiple of 32).
        max_boxes: boxes per image after padding with -1 (more are truncated with a logged warning).
        label_map: see ``resolve_class_ids``; records hold original category ids, targets hold contiguous
            labels (index in the sorted id list). Crowd boxes and boxes of ids not in the map are left out.
        shard: (count, index) to read 1/count of the data (Horovod: (hvd.size(), hvd.rank())): whole files
            when there are at least ``count`` files, else every count-th record.
        seed: int for reproducible shuffling and augmentation (same seed -> same batches); None: random.
        drop_remainder: default ``training``. repeat: repeat forever (training with steps_per_epoch; keeps
            Horovod workers in step). With ``training``, ``repeat`` and a ``seed``, every pass over the records
            has its own order and augmentation, a function of (seed, pass) only (``seeded_passes``).
        start: with ``training``, ``repeat`` and a ``seed``: examples this worker already drew (steps done x its
            batch); the stream begins there, exactly as the one built at 0 continues (a resumed run's data).
        cycle_length: shards read at once (and records decoded at once, at least one per CPU).
        num_parallel_calls: parallelism of parse / augment / batch (default AUTOTUNE).
        augmentation: training's augmentation, the fields of ``training.config.AugmentationConfig`` as keywords
            (scale_range, flip_probability, color_jitter, pca_lighting, min_box_size, crop, crop_*, max_pad,
            hue_delta, contrast_range, saturation_range, brightness_delta); unnamed ones take its defaults
            (the paper's random scale + crop, flip, colour jitter 0.4); an unknown name raises TypeError.

    Returns batches ``(images float32 [B, S, S, 3] 0..255, {"boxes": float32 [B, max_boxes, 4] xyxy input
    pixels, "labels": int32 [B, max_boxes], "image_box": float32 [B, 4] xyxy input pixels of the real image
    (the rest is padding; ``CenterNet(mask_padding=True)`` reads it)})``; evaluation targets add
    ``"image_info": {"source_id" string [B], "height" int32 [B], "width" int32 [B], "scale" float32 [B]}``
    (original: ``Letterbox.boxes_to_original``).
    """
    _check_sizes(batch_size, image_size, max_boxes)
    files = _list_files(file_pattern)
    letterbox = Letterbox(image_size, resolve_class_ids(label_map, file_pattern))
    table = letterbox.label_table()
    drop_remainder = training if drop_remainder is None else drop_remainder
    deterministic = seed is not None or not training
    parallel = {"num_parallel_calls": num_parallel_calls, "deterministic": deterministic}

    dataset = _records_and_randoms(files, training=training, seed=seed, shard=shard, shuffle_buffer=shuffle_buffer,
                                   repeat=repeat, cycle_length=cycle_length, deterministic=deterministic, start=start)
    dataset = dataset.map(parse, **parallel)
    dataset = decode(dataset, cycle_length=cycle_length, **parallel)
    if training:
        stage = functools.partial(augment_example, table=table, letterbox=letterbox, max_boxes=max_boxes,
                                  options=augmentation_options(augmentation))
    else:
        stage = functools.partial(letterbox_example, table=table, letterbox=letterbox, max_boxes=max_boxes)
    dataset = dataset.map(stage, **parallel)
    return dataset.batch(batch_size, drop_remainder=drop_remainder, **parallel).prefetch(AUTOTUNE)
