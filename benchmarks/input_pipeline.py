"""Input pipeline throughput: the CenterNet training pipeline against a decode+resize-only baseline.

Writes generated 640x480 JPEGs (smooth shapes + noise, ~COCO-sized files) with random boxes to TFRecords in a
temporary folder, then measures images/s of

  baseline   interleave -> parse -> decode -> resize to SIZE x SIZE -> batch (no augmentation)
  training   keras_centernet.data.build_dataset(training=True): + guarded decode, random scale + crop, flip,
             colour jitter, box clipping / padding

in the same run, alternating the two (best of --rounds each, since other work on the machine adds noise), and
prints images/s, images/s per core and the ratio training / baseline (target >= 0.6).

    python benchmarks/input_pipeline.py [--images 512] [--size 512] [--batch-size 32] [--rounds 3]
"""

import argparse
import io
import os
import sys
import tempfile
import time

import numpy as np

TARGET_RATIO = 0.6  # training pipeline images per CPU-second / plain decode+resize: exit 1 below it


def _generated_jpeg(rng, height=480, width=640):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    boxes = []
    for _ in range(int(rng.integers(3, 12))):
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 40)
        x1, y1 = x0 + rng.integers(20, width // 2), y0 + rng.integers(20, height // 2)
        draw.ellipse([int(x0), int(y0), int(x1), int(y1)], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        boxes.append((x0 / width, y0 / height, min(x1, width) / width, min(y1, height) / height))
    pixels = np.asarray(image, np.int16) + rng.integers(-20, 21, (height, width, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), np.array(boxes, np.float32)


def write_records(folder, num_images, num_shards=8, seed=0):
    """Generated JPEG records in folder/tfrecords/coco_train.record-*; returns (pattern, mean file KiB)."""
    import tensorflow as tf

    from keras_centernet.data import layout, tfrecord, write_label_map

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, layout.RECORDS_DIRNAME), exist_ok=True)
    write_label_map(layout.label_map_path(folder), {i: f"class{i}" for i in range(1, 81)})
    writers = [tf.io.TFRecordWriter(layout.shard_path(folder, "train", i, num_shards)) for i in range(num_shards)]
    sizes = []
    for index in range(num_images):
        data, boxes = _generated_jpeg(rng)
        sizes.append(len(data))
        writers[index % num_shards].write(tfrecord.encode_example(
            data, image_format="jpeg", height=480, width=640, source_id=index, boxes=boxes,
            labels=rng.integers(1, 81, len(boxes)),
        ))
    for writer in writers:
        writer.close()
    return layout.record_file_pattern(folder, "train"), np.mean(sizes) / 1024


def baseline_dataset(pattern, size, batch_size):
    """decode + resize only: the reference the training pipeline is compared with."""
    import tensorflow as tf

    from keras_centernet.data import tfrecord

    def load(record):
        parsed = tfrecord.parse_example(record)
        image = tf.io.decode_image(parsed["encoded"], channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return tf.image.resize(image, [size, size]), parsed["boxes"]

    files = tf.data.Dataset.list_files(pattern, shuffle=False)
    dataset = files.interleave(tf.data.TFRecordDataset, cycle_length=8, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(lambda image, boxes: (image, boxes[:1]))
    return dataset.padded_batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def images_per_second(dataset, batch_size, warmup_batches=2):
    """(images per wall second, images per CPU second of this process) over one pass, warm-up excluded.

    CPU seconds count the work of every core this process used, so images per CPU second is the per-core
    throughput, and unlike wall time it barely moves when other programs share the machine.
    """
    count, start, cpu_start = 0, None, None
    for index, _ in enumerate(dataset):
        if index == warmup_batches - 1:
            start, cpu_start = time.perf_counter(), time.process_time()
        elif index >= warmup_batches:
            count += batch_size
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu_start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512, help="generated images (default 512)")
    parser.add_argument("--size", type=int, default=512, help="model input size (default 512)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements of each (best counts)")
    args = parser.parse_args(argv)

    from keras_centernet.data import build_dataset

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        pattern, kib = write_records(folder, args.images)
        print(f"wrote {args.images} generated 640x480 JPEGs ({kib:.0f} KiB mean) in {time.perf_counter() - start:.1f}s")
        pipelines = {
            "baseline (decode+resize)": lambda: baseline_dataset(pattern, args.size, args.batch_size),
            "training (build_dataset)": lambda: build_dataset(
                pattern, training=True, batch_size=args.batch_size, image_size=args.size, seed=0),
        }
        wall, per_core = dict.fromkeys(pipelines, 0.0), dict.fromkeys(pipelines, 0.0)
        for round_index in range(args.rounds):
            for name, make in pipelines.items():
                rate, cpu_rate = images_per_second(make(), args.batch_size)
                wall[name], per_core[name] = max(wall[name], rate), max(per_core[name], cpu_rate)
                print(f"round {round_index + 1}: {name:26s} {rate:7.1f} images/s  {cpu_rate:7.1f} images/CPU-s")
    print(f"\n{'pipeline':26s} {'images/s':>9s} {'per core (images/CPU-s)':>24s}")
    for name in pipelines:
        print(f"{name:26s} {wall[name]:9.1f} {per_core[name]:24.1f}")
    print(f"({cores} cores, {args.size} px, batch {args.batch_size}, best of {args.rounds} rounds)")
    baseline, training = "baseline (decode+resize)", "training (build_dataset)"
    ratio = per_core[training] / per_core[baseline]
    print(f"ratio training / baseline: per core {ratio:.2f}, "
          f"wall {wall[training] / wall[baseline]:.2f} (target >= {TARGET_RATIO} per core)")
    if ratio < TARGET_RATIO:
        print(f"input_pipeline: FAILED: per-core ratio {ratio:.2f} is below the target {TARGET_RATIO}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
