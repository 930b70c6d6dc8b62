"""GPU: our CenterNet training step on Keras-JAX, one JSON "RESULT" line in the format of anchor_bench.py.

The step is `CenterNet.train_on_batch(images, {"boxes", "labels"})`: boxes padded to --max-boxes, heatmap / size /
offset targets encoded on the device inside `compute_loss` (CenterNetLabelEncoder), penalty-reduced focal + masked
L1 losses, Adam. As in ../shared/gpu/anchor_bench.py the batch stays on the device (model step only, no input
pipeline), --warmup steps (compile) are timed apart as compile_s, then --steps steps give img_per_s.

    python gpu/bench_jax.py                       # resnet50 + deconv, 512 px, batch 64, bf16, 80 classes
    python gpu/bench_jax.py --backbone tiny --image-size 64 --batch-size 2 --steps 2 --warmup 1   # CPU smoke
    BENCH_SMALL=1 python gpu/bench_jax.py         # 64 px, 2 steps, 1 warm-up (as anchor_bench.py)

Besides anchor_bench.py's fields the RESULT line carries "image_size", "encoder_ms" (the jitted target encoder alone,
per batch) and "unbuilt_layers": Keras re-traces the whole model in Python on every train_on_batch while any layer of
it is unbuilt, so that list must be empty for the number to mean the step alone.

Images are uniform noise in 0..255; each image has --objects random boxes (sides 4..50% of the image) with labels
uniform in 0..num_classes-1. Runs on JAX whatever KERAS_BACKEND says (it sets it before importing Keras).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16"}
ARCH_NAMES = {("resnet50", "deconv"): "r50-deconv", ("resnet101", "fpn"): "r101-fpn"}


def parse_args(argv=None):
    small = bool(os.environ.get("BENCH_SMALL"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--neck", default="deconv")
    parser.add_argument("--image-size", type=int, default=64 if small else 512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="bf16")
    parser.add_argument("--num-classes", type=int, default=80)
    parser.add_argument("--max-boxes", type=int, default=128)
    parser.add_argument("--objects", type=int, default=7, help="boxes per image (COCO averages ~7)")
    parser.add_argument("--steps", type=int, default=2 if small else 20)
    parser.add_argument("--warmup", type=int, default=1 if small else 5)
    parser.add_argument("--encoder-repeats", type=int, default=2 if small else 20,
                        help="also time the target encoder alone this many times (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.image_size % 32:
        parser.error(f"--image-size must be a multiple of 32, got {args.image_size}")
    if not 0 <= args.objects <= args.max_boxes:
        parser.error(f"--objects must be in 0..--max-boxes ({args.max_boxes}), got {args.objects}")
    return args


def random_batch(args):
    """images float32 [B, S, S, 3] 0..255, boxes float32 [B, M, 4] xyxy pixels, labels int32 [B, M] (-1 padded)."""
    import numpy as np

    rng = np.random.default_rng(args.seed)
    size, batch = args.image_size, args.batch_size
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    boxes = np.full((batch, args.max_boxes, 4), -1.0, np.float32)
    labels = np.full((batch, args.max_boxes), -1, np.int32)
    sides = rng.uniform(0.04, 0.5, (batch, args.objects, 2)) * size
    corners = rng.uniform(0, 1, (batch, args.objects, 2)) * (size - sides)
    boxes[:, : args.objects] = np.concatenate([corners, corners + sides], -1)
    labels[:, : args.objects] = rng.integers(0, args.num_classes, (batch, args.objects))
    return images, boxes, labels


def time_encoder(model, y, args):
    """ms per batch of the target encoder alone (jitted, on the device), the part our step adds to the model."""
    import jax

    shape = (args.image_size, args.image_size)
    encode = jax.jit(lambda boxes, labels: model.encoder(boxes, labels, image_shape=shape))
    jax.block_until_ready(encode(y["boxes"], y["labels"]))
    start = time.time()
    for _ in range(args.encoder_repeats):
        out = encode(y["boxes"], y["labels"])
    jax.block_until_ready(out)
    return round((time.time() - start) / args.encoder_repeats * 1e3, 3)


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo, for keras_centernet
    import jax
    import keras

    from keras_centernet.models.centernet import CenterNet

    keras.mixed_precision.set_dtype_policy(PRECISIONS[args.precision])
    keras.utils.set_random_seed(args.seed)
    model = CenterNet(args.num_classes, backbone=args.backbone, neck=args.neck)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    images, boxes, labels = random_batch(args)
    x = jax.device_put(images)
    y = {"boxes": jax.device_put(boxes), "labels": jax.device_put(labels)}

    start = time.time()
    for _ in range(args.warmup):
        loss = model.train_on_batch(x, y)
    compile_s = time.time() - start
    start = time.time()
    for _ in range(args.steps):
        loss = model.train_on_batch(x, y)  # returns host numbers: synchronizes every step, as anchor_bench.py
    seconds = time.time() - start
    # Keras re-traces the whole model (`_symbolic_build`) on every train_on_batch while any layer is unbuilt: a
    # non-empty list here means the measured step includes that Python-side trace.
    unbuilt = [layer.name for layer in model._flatten_layers() if not layer.built]
    encoder_ms = time_encoder(model, y, args) if args.encoder_repeats else None
    result = {
        "devices": str(jax.devices()),
        "compile_s": round(compile_s, 1),
        "loss": float(loss[0] if isinstance(loss, list) else loss),
        "fw": "keras-centernet-jax",
        "arch": ARCH_NAMES.get((args.backbone, args.neck), f"{args.backbone}-{args.neck}"),
        "prec": args.precision,
        "batch": args.batch_size,
        "image_size": args.image_size,
        "img_per_s": round(args.batch_size * args.steps / seconds, 1),
        "unbuilt_layers": unbuilt,
        "encoder_ms": encoder_ms,
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
