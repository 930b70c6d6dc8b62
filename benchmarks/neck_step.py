"""Training-step cost of the dcn neck (the paper's ResDCN: deformable convs) as a ratio to the deconv neck.

Two CenterNets that differ only in the neck (`neck="dcn"`: 3 x [DeformableConv2D 3x3 + BN + ReLU + bilinear-init 4x4
deconv + BN + ReLU]; `neck="deconv"`: the same with plain 3x3 convs) are compiled the same way and trained with
`train_on_batch` on the same synthetic batch (images 0..255, a few boxes per image). After --warmup-steps untimed
steps each (compilation), rounds alternate deconv, dcn, deconv, dcn, ...; each round times --steps steps of one model.
Printed: the median step time of each, their ratio dcn / deconv, the median of the per-round ratios (each dcn round
against the deconv round just before it) and the ratio of the fastest rounds, both less sensitive to other load on
a shared machine.

    PYTHONPATH=. python benchmarks/neck_step.py                                  # resnet18, 256 px, batch 4 (CPU)
    PYTHONPATH=. python benchmarks/neck_step.py --image-size 128 --rounds 3
    KERAS_BACKEND=jax PYTHONPATH=. python benchmarks/neck_step.py
"""

import argparse
import json
import platform
import statistics
import time

import numpy as np

NECKS = ("deconv", "dcn")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=256, help="square input size, multiple of 32")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-classes", type=int, default=80)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median taken)")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps (compile) per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT", help="write the numbers to this json file")
    args = parser.parse_args(argv)
    if args.image_size % 32:
        parser.error(f"--image-size must be a multiple of 32, got {args.image_size}")
    for name in ("batch_size", "num_classes", "steps", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def synthetic_batch(args, max_boxes=16):
    """images [B, S, S, 3] in 0..255 and padded targets {"boxes" xyxy px, "labels"} with 1..4 boxes per image."""
    rng = np.random.default_rng(args.seed)
    size = args.image_size
    images = rng.uniform(0, 255, (args.batch_size, size, size, 3)).astype("float32")
    boxes = np.full((args.batch_size, max_boxes, 4), -1.0, "float32")
    labels = np.full((args.batch_size, max_boxes), -1, "int32")
    for b in range(args.batch_size):
        for m in range(rng.integers(1, 5)):
            x0, y0 = rng.uniform(0, size * 0.6, 2)
            w, h = rng.uniform(size * 0.1, size * 0.4, 2)
            boxes[b, m] = (x0, y0, x0 + w, y0 + h)
            labels[b, m] = rng.integers(0, args.num_classes)
    return images, {"boxes": boxes, "labels": labels}


def build_model(neck, args):
    import keras

    from keras_centernet.models.centernet import CenterNet

    keras.utils.set_random_seed(args.seed)
    model = CenterNet(args.num_classes, backbone=args.backbone, neck=neck)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    return model


def timed_steps(model, batch, steps):
    images, targets = batch
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(images, targets, return_dict=True)["loss"]
    elapsed = (time.perf_counter() - start) / steps
    if not np.isfinite(loss):
        raise SystemExit(f"non-finite loss {loss}")
    return elapsed


def main(argv=None):
    args = parse_args(argv)
    import keras

    batch = synthetic_batch(args)
    models = {neck: build_model(neck, args) for neck in NECKS}
    params = {neck: int(sum(np.prod(w.shape) for w in model.trainable_weights)) for neck, model in models.items()}
    for model in models.values():
        timed_steps(model, batch, args.warmup_steps)
    times = {neck: [] for neck in NECKS}
    for _ in range(args.rounds):
        for neck in NECKS:
            times[neck].append(timed_steps(models[neck], batch, args.steps))
    median = {neck: statistics.median(values) for neck, values in times.items()}
    per_round = [dcn / deconv for deconv, dcn in zip(times["deconv"], times["dcn"])]
    result = {
        "backend": keras.backend.backend(), "machine": platform.processor() or platform.machine(),
        "backbone": args.backbone, "image_size": args.image_size, "batch_size": args.batch_size,
        "steps": args.steps, "rounds": args.rounds, "params": params,
        "step_seconds": median, "ratio": median["dcn"] / median["deconv"],
        "median_round_ratio": statistics.median(per_round), "round_ratios": per_round,
        "fastest_ratio": min(times["dcn"]) / min(times["deconv"]),
    }  # fmt: skip
    print(
        f"{args.backbone} {args.image_size} px, batch {args.batch_size}, {keras.backend.backend()}: "
        f"deconv {median['deconv'] * 1e3:.0f} ms/step, dcn {median['dcn'] * 1e3:.0f} ms/step; "
        f"dcn / deconv = {result['ratio']:.2f} (median per round {result['median_round_ratio']:.2f}, fastest rounds "
        f"{result['fastest_ratio']:.2f}); "
        f"trainable parameters {params['deconv']:,} vs {params['dcn']:,}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
