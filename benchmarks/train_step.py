"""Training-step throughput: our CenterNet.fit (targets encoded on the device) against a dense-target reference.

    ours       CenterNet(num_classes, backbone, neck).fit on (images, {"boxes", "labels"}) padded to --max-boxes:
               the heatmap, size, offset, indices and mask are encoded inside `compute_loss` by
               CenterNetLabelEncoder (keras.ops), losses are our PenaltyReducedFocalLoss + MaskedL1Loss.
    reference  the same layers (a second CenterNet's graph re-wrapped as a plain functional keras.Model with
               outputs {"heatmap", "size", "offset"}) compiled with library losses: keras-cv's
               BinaryPenaltyReducedFocalCrossEntropy(from_logits=True) on the heatmap (or, with
               --reference-focal keras, keras.losses.BinaryFocalCrossentropy) and keras.losses.MeanAbsoluteError
               (reduction "mean_with_sample_weight") on dense size / offset maps weighted by the center mask, loss
               weights 1 / 0.1 / 1. Its targets are built on the host per batch in numpy the way a classic
               CenterNet input pipeline does (xingyizhou/CenterNet ctdet: a Python loop over objects drawing
               truncated Gaussians with np.maximum): heatmap [B, h, w, C], size and offset maps [B, h, w, 2] and
               the mask [B, h, w] as sample weights; the heatmap weight [B, 1, 1, 1] rescales keras's per-element
               mean to CenterNet's per-object normalization.

Both read the same synthetic images (keras_centernet.data.synthetic; labels spread over --num-classes) through the
same input path: a Python generator handed to `fit` (on TensorFlow Keras wraps it in tf.data.from_generator with
prefetch), so the reference's host-side target building is inside its measured time. Each round runs one `fit`
of --steps steps per model, alternating ours, reference, ours, reference, ...; compile and warm-up run first and
are not timed. Reported: the median over rounds of images/s for each and the ratio ours / reference. Before timing,
the reference is given our initial weights and both losses are evaluated on one batch (they must agree), so the
two really train the same objective.

    python benchmarks/train_step.py                      # resnet18 + deconv, 256 px, batch 8, 80 classes (CPU)
    python benchmarks/train_step.py --backbone tiny --image-size 128 --steps 3 --rounds 3 --json out.json
    KERAS_BACKEND=jax python benchmarks/train_step.py --precision mixed_bfloat16
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
TARGET_RATIO = 0.95
OUTPUT_STRIDE = 4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--neck", default="deconv")
    parser.add_argument("--image-size", type=int, default=256, help="square input size, multiple of 32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-classes", type=int, default=80)
    parser.add_argument("--max-boxes", type=int, default=128, help="padded boxes per image (ours)")
    parser.add_argument("--max-objects", type=int, default=12, help="synthetic objects per image: 1..N (COCO ~7)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per model per round")
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds (median taken)")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps (compile) per model")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument("--jit-compile", choices=("auto", "true", "false"), default="auto", help="same for both")
    parser.add_argument("--reference-focal", choices=("keras-cv", "keras"), default="keras-cv",
                        help="keras-cv BinaryPenaltyReducedFocalCrossEntropy (the same loss) or keras "
                             "BinaryFocalCrossentropy (gamma 2, no Gaussian penalty reduction)")
    parser.add_argument("--pool-batches", type=int, default=4, help="distinct synthetic batches cycled through")
    parser.add_argument("--profile", action="store_true",
                        help="also time the device encoder and the host dense encoder alone (ms per batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT", help="write the numbers to this json file")
    args = parser.parse_args(argv)
    if args.image_size % 32:
        parser.error(f"--image-size must be a multiple of 32, got {args.image_size}")
    for name in ("batch_size", "num_classes", "max_boxes", "max_objects", "steps", "rounds", "pool_batches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


# ----------------------------------------------------------------------------------------------------------------
# Data: synthetic images, our padded targets, and the classic host-side dense targets of the reference.


def make_pool(num_images, image_size, num_classes, max_boxes, max_objects, seed):
    """Synthetic images float32 [N, S, S, 3] 0..255, boxes [N, M, 4] and labels [N, M] padded with -1.

    The synthetic set draws 3 shape classes; for more classes the labels of valid boxes are redrawn uniformly from
    0..num_classes-1 (throughput does not depend on what the shapes look like).
    """
    from keras_centernet.data.synthetic import SYNTHETIC_CLASS_NAMES, make_synthetic_dataset

    images, boxes, labels = make_synthetic_dataset(
        num_images, image_size, min(num_classes, len(SYNTHETIC_CLASS_NAMES)), max_boxes, max_objects, seed
    )
    if num_classes > len(SYNTHETIC_CLASS_NAMES):
        rng = np.random.default_rng(seed + 1)
        valid = labels >= 0
        labels[valid] = rng.integers(0, num_classes, int(valid.sum()))
    return images.astype(np.float32), boxes, labels


def classic_gaussian_radius(height, width, min_overlap=0.7):
    """The CenterNet reference code's radius (src/lib/utils/image.py), = layers.gaussian "cornernet" variant."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(max(b1**2 - 4 * c1, 0.0))) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(max(b2**2 - 16 * c2, 0.0))) / 2
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(max(b3**2 - 16 * min_overlap * c3, 0.0))) / 2
    return min(r1, r2, r3)


def draw_gaussian(channel, center_x, center_y, radius):
    """draw_umich_gaussian: element-wise max of a (2r+1)^2 Gaussian (sigma (2r+1)/6) into channel [h, w]."""
    sigma = (2 * radius + 1) / 6.0
    steps = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-(steps[:, None] ** 2 + steps[None, :] ** 2) / (2 * sigma * sigma))
    height, width = channel.shape
    left, right = min(center_x, radius), min(width - center_x, radius + 1)
    top, bottom = min(center_y, radius), min(height - center_y, radius + 1)
    region = channel[center_y - top : center_y + bottom, center_x - left : center_x + right]
    np.maximum(region, kernel[radius - top : radius + bottom, radius - left : radius + right], out=region)


def encode_dense_targets(boxes, labels, image_size, num_classes, stride=OUTPUT_STRIDE):
    """Host-side dense CenterNet targets, one Python loop over objects (as classic input pipelines do).

    Args: boxes float [B, M, 4] xyxy pixels, labels int [B, M], padded with -1.
    Returns (targets, sample_weights): targets {"heatmap": [B, h, w, C], "size": [B, h, w, 2] (w, h in output
    cells), "offset": [B, h, w, 2]}; sample_weights {"heatmap": [B, 1, 1, 1] = B h w C / num_objects (turns keras's
    per-element mean into CenterNet's per-object normalization), "size" and "offset": the center mask [B, h, w]}.
    Box geometry (clipping, validity, integer centers) follows CenterNetLabelEncoder.
    """
    batch = boxes.shape[0]
    out = image_size // stride
    heatmap = np.zeros((batch, out, out, num_classes), np.float32)
    size = np.zeros((batch, out, out, 2), np.float32)
    offset = np.zeros((batch, out, out, 2), np.float32)
    mask = np.zeros((batch, out, out), np.float32)
    clipped = np.clip(boxes, 0.0, float(image_size))
    num_objects = 0
    for b in range(batch):
        for (x1, y1, x2, y2), label in zip(clipped[b], labels[b]):
            if not (0 <= label < num_classes and x2 > x1 and y2 > y1):
                continue
            w, h = (x2 - x1) / stride, (y2 - y1) / stride
            cx, cy = (x1 + x2) / (2 * stride), (y1 + y2) / (2 * stride)
            cx_int, cy_int = min(int(cx), out - 1), min(int(cy), out - 1)
            radius = max(int(classic_gaussian_radius(math.ceil(h), math.ceil(w))), 0)
            draw_gaussian(heatmap[b, :, :, label], cx_int, cy_int, radius)
            size[b, cy_int, cx_int] = (w, h)
            offset[b, cy_int, cx_int] = (cx - cx_int, cy - cy_int)
            mask[b, cy_int, cx_int] = 1.0
            num_objects += 1
    scale = np.full((batch, 1, 1, 1), heatmap.size / max(num_objects, 1), np.float32)
    return {"heatmap": heatmap, "size": size, "offset": offset}, {"heatmap": scale, "size": mask, "offset": mask}


def our_batches(pool, batch_size, steps, start=0):
    """Generator of `steps` batches (images, {"boxes", "labels"}) cycling through the pool from batch `start`."""
    images, boxes, labels = pool
    batches = len(images) // batch_size
    for step in range(start, start + steps):
        s = slice((step % batches) * batch_size, (step % batches + 1) * batch_size)
        yield images[s], {"boxes": boxes[s], "labels": labels[s]}


def reference_batches(pool, batch_size, steps, image_size, num_classes, start=0):
    """Generator of `steps` batches (images, dense targets, sample weights), targets built per batch."""
    for images, y in our_batches(pool, batch_size, steps, start):
        targets, weights = encode_dense_targets(y["boxes"], y["labels"], image_size, num_classes)
        yield images, targets, weights


# ----------------------------------------------------------------------------------------------------------------
# Models.


def build_ours(args):
    import keras

    from keras_centernet.models.centernet import CenterNet

    model = CenterNet(args.num_classes, backbone=args.backbone, neck=args.neck)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=_jit(args))
    return model


def build_reference(args):
    """The same architecture as a plain functional model with library losses on dense targets."""
    import keras

    from keras_centernet.models.centernet import CenterNet

    graph = CenterNet(args.num_classes, backbone=args.backbone, neck=args.neck, name="reference_graph")
    outputs = {key: graph.get_layer(f"{key}_head").output for key in ("heatmap", "size", "offset")}
    model = keras.Model(graph.inputs, outputs, name="reference")
    if args.reference_focal == "keras-cv":
        import keras_cv

        heatmap_loss = keras_cv.losses.BinaryPenaltyReducedFocalCrossEntropy(from_logits=True)
    else:
        heatmap_loss = keras.losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss={
            "heatmap": heatmap_loss,
            "size": keras.losses.MeanAbsoluteError(reduction="mean_with_sample_weight"),
            "offset": keras.losses.MeanAbsoluteError(reduction="mean_with_sample_weight"),
        },
        loss_weights={"heatmap": 1.0, "size": 0.1, "offset": 1.0},
        jit_compile=_jit(args),
    )
    return model


def _jit(args):
    return {"auto": "auto", "true": True, "false": False}[args.jit_compile]


def check_same_objective(ours, reference, pool, args):
    """Gives the reference our weights and evaluates both losses on one batch: {"ours": ..., "reference": ...}.

    Also the largest heatmap difference between our device encoder and the host encoder.
    """
    from keras import ops

    reference.set_weights(ours.get_weights())
    images, y = next(our_batches(pool, args.batch_size, 1))
    targets, weights = encode_dense_targets(y["boxes"], y["labels"], args.image_size, args.num_classes)
    y_pred = ours(images, training=False)
    ours_loss = float(ops.convert_to_numpy(ours.compute_loss(images, y, y_pred, training=False)))
    reference_loss = float(
        ops.convert_to_numpy(reference.compute_loss(images, targets, y_pred, weights, training=False))
    )
    encoded = ours.encode_targets(y, y_pred["heatmap"].shape[1:3])
    heatmap_gap = float(np.max(np.abs(ops.convert_to_numpy(encoded["heatmap"]) - targets["heatmap"])))
    return {"ours": ours_loss, "reference": reference_loss, "max_heatmap_difference": heatmap_gap}


def fit_seconds(model, batches, steps):
    """(wall, process CPU) seconds of one `fit` over `steps` batches from the generator (input path and host work
    included; the CPU time counts every thread of this process, so it is less sensitive to other load)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    model.fit(batches, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start, time.process_time() - start_cpu


def profile_encoders(ours, pool, args, repeats=5):
    """ms per batch of our device encoder alone (compiled like the step) and of the host dense encoder."""
    import keras
    from keras import ops

    _, y = next(our_batches(pool, args.batch_size, 1))
    out = args.image_size // OUTPUT_STRIDE

    def encode(boxes, labels):
        return ours.encoder(boxes, labels, image_shape=(args.image_size, args.image_size))["heatmap"]

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        encode = tf.function(encode, jit_compile=_jit(args) is True)
    elif keras.backend.backend() == "jax":
        import jax

        encode = jax.jit(encode)
    boxes, labels = ops.convert_to_tensor(y["boxes"]), ops.convert_to_tensor(y["labels"])
    ops.convert_to_numpy(encode(boxes, labels))  # compile
    start = time.perf_counter()
    for _ in range(repeats):
        ops.convert_to_numpy(encode(boxes, labels))
    device_ms = (time.perf_counter() - start) / repeats * 1e3
    start = time.perf_counter()
    for _ in range(repeats):
        encode_dense_targets(y["boxes"], y["labels"], args.image_size, args.num_classes)
    host_ms = (time.perf_counter() - start) / repeats * 1e3
    gaussian_mb = args.batch_size * args.max_boxes * out * out * 4 / 2**20
    dense_mb = args.batch_size * out * out * (args.num_classes + 5) * 4 / 2**20
    return {
        "device_encoder_ms": round(device_ms, 2),
        "host_dense_encoder_ms": round(host_ms, 2),
        "device_gaussian_tensor_mib": round(gaussian_mb, 1),
        "host_dense_targets_mib": round(dense_mb, 1),
    }


def main(argv=None):
    args = parse_args(argv)
    import keras

    keras.mixed_precision.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(args.seed)
    pool = make_pool(
        args.pool_batches * args.batch_size, args.image_size, args.num_classes, args.max_boxes, args.max_objects,
        args.seed,
    )
    objects_per_image = float(np.mean(np.sum(pool[2] >= 0, axis=1)))
    ours, reference = build_ours(args), build_reference(args)
    check = check_same_objective(ours, reference, pool, args)
    print(
        f"backend {keras.backend.backend()}, {args.backbone} + {args.neck}, {args.image_size} px, batch "
        f"{args.batch_size}, {args.num_classes} classes, {args.precision}, max_boxes {args.max_boxes}, "
        f"{objects_per_image:.1f} objects/image, reference focal: {args.reference_focal}",
        flush=True,
    )
    print(
        f"same objective on one batch, same weights: loss ours {check['ours']:.5f}, reference "
        f"{check['reference']:.5f}; max |heatmap ours - host| {check['max_heatmap_difference']:.2e}",
        flush=True,
    )

    def ours_data(steps, start=0):
        return our_batches(pool, args.batch_size, steps, start)

    def reference_data(steps, start=0):
        return reference_batches(pool, args.batch_size, steps, args.image_size, args.num_classes, start)

    candidates = (("ours", ours, ours_data), ("reference", reference, reference_data))
    start = time.perf_counter()
    for _, model, data in candidates:  # compile + warm-up, not timed
        fit_seconds(model, data(args.warmup_steps), args.warmup_steps)
    print(f"compile + warm-up: {time.perf_counter() - start:.1f} s", flush=True)

    rates = {"ours": [], "reference": []}
    cpu_rates = {"ours": [], "reference": []}  # images per CPU-second of this process
    for round_index in range(args.rounds):
        for name, model, data in candidates:
            seconds, cpu_seconds = fit_seconds(model, data(args.steps, round_index * args.steps), args.steps)
            rates[name].append(args.steps * args.batch_size / seconds)
            cpu_rates[name].append(args.steps * args.batch_size / cpu_seconds)
        print(
            f"round {round_index + 1}/{args.rounds}: ours {rates['ours'][-1]:.2f} img/s, reference "
            f"{rates['reference'][-1]:.2f} img/s, ratio {rates['ours'][-1] / rates['reference'][-1]:.3f}",
            flush=True,
        )
    ours_ips, reference_ips = statistics.median(rates["ours"]), statistics.median(rates["reference"])
    ratio = ours_ips / reference_ips
    round_ratio = statistics.median(a / b for a, b in zip(rates["ours"], rates["reference"]))
    print(f"ours       {ours_ips:8.2f} images/s (median of {args.rounds} rounds x {args.steps} steps)")
    print(f"reference  {reference_ips:8.2f} images/s")
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(f"ratio ours / reference: {ratio:.3f} ({verdict} target {TARGET_RATIO}); median per-round {round_ratio:.3f}")
    cpu_ratio = statistics.median(cpu_rates["ours"]) / statistics.median(cpu_rates["reference"])
    print(f"images per CPU-second of this process, ours / reference: {cpu_ratio:.3f} (insensitive to other load)")

    profile = None
    if args.profile:
        profile = profile_encoders(ours, pool, args)
        step_ms = args.batch_size / ours_ips * 1e3
        print(
            f"profile: our step {step_ms:.0f} ms; device encoder alone {profile['device_encoder_ms']} ms "
            f"(Gaussian tensor [B, M, h, w] {profile['device_gaussian_tensor_mib']} MiB); host dense encoder "
            f"{profile['host_dense_encoder_ms']} ms (dense targets {profile['host_dense_targets_mib']} MiB)"
        )

    if args.json:
        result = {
            "benchmark": "train_step",
            "backend": keras.backend.backend(),
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "config": vars(args),
            "objects_per_image": objects_per_image,
            "same_objective_check": check,
            "images_per_second": {"ours": rates["ours"], "reference": rates["reference"]},
            "median_images_per_second": {"ours": ours_ips, "reference": reference_ips},
            "ratio": ratio,
            "median_round_ratio": round_ratio,
            "images_per_cpu_second": cpu_rates,
            "cpu_ratio": cpu_ratio,
            "target_ratio": TARGET_RATIO,
            "profile": profile,
        }
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
        print(f"wrote {args.json}")
    if ratio < TARGET_RATIO:
        print(f"train_step: FAILED: ratio {ratio:.3f} is below the target {TARGET_RATIO}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
