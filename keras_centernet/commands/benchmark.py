"""`keras-centernet benchmark`: training and inference throughput of a model configuration on synthetic data.

Measures what a model costs on this machine before converting a dataset: `fit` steps (warm-up excluded, via
PerformanceCallback) and `predict` batches, on in-memory synthetic images, on any Keras backend.
"""

import math
import time


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "benchmark",
        help="training and inference images/s of a model configuration (synthetic data)",
        description="Train and predict a CenterNet on synthetic in-memory images and report images/s "
        "(warm-up excluded). Works on any Keras backend (KERAS_BACKEND=jax|tensorflow|torch).",
    )
    parser.add_argument("--backbone", default="resnet50", help="tiny|resnet18|resnet34|resnet50|resnet101")
    parser.add_argument("--neck", default="deconv", choices=("fpn", "deconv", "dcn"))
    parser.add_argument("--image_size", type=int, default=512)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_classes", type=int, default=80)
    parser.add_argument("--steps", type=int, default=30, help="measured training steps (30)")
    parser.add_argument("--warmup_steps", type=int, default=5, help="steps left out (5)")
    parser.add_argument(
        "--precision", default="float32", choices=("float32", "mixed_float16", "mixed_bfloat16"), help="dtype policy"
    )
    parser.add_argument("--jit_compile", default="auto", choices=("auto", "true", "false"))
    parser.add_argument("--output", default=None, help="write the results as json here")
    parser.set_defaults(func=run)
    return parser


def run(args):
    import keras
    import numpy as np

    from keras_centernet.callbacks.performance import PerformanceCallback, device_names, library_versions
    from keras_centernet.data.synthetic import make_synthetic_dataset
    from keras_centernet.models.centernet import CenterNet
    from keras_centernet.validation import check_image_size, check_positive

    check_image_size(args.image_size, "--image_size")
    check_positive(args.batch_size, "--batch_size")
    keras.mixed_precision.set_global_policy(args.precision)
    images, boxes, labels = make_synthetic_dataset(4 * args.batch_size, args.image_size, num_classes=3, max_boxes=32)
    labels = np.where(labels >= 0, labels * (args.num_classes // 3), -1).astype("int32")
    images = images.astype("float32")
    model = CenterNet(args.num_classes, backbone=args.backbone, neck=args.neck)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    model.compile(keras.optimizers.Adam(1e-4), jit_compile=jit)

    total_steps = args.steps + args.warmup_steps
    performance = PerformanceCallback(
        args.batch_size, warmup_steps=args.warmup_steps, precision=args.precision, print_fn=lambda *_: None
    )
    model.fit(images, {"boxes": boxes, "labels": labels}, batch_size=args.batch_size, verbose=0,
              epochs=math.ceil(total_steps / 4), callbacks=[performance])  # fmt: skip
    train = performance.summary

    model.predict(images[: args.batch_size], batch_size=args.batch_size, verbose=0)  # compile
    rounds = max(1, args.steps // 4)
    start = time.perf_counter()
    for _ in range(rounds):
        model.predict(images, batch_size=args.batch_size, verbose=0)
    predict_seconds = time.perf_counter() - start
    result = {
        "backbone": args.backbone,
        "neck": args.neck,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "num_classes": args.num_classes,
        "precision": args.precision,
        "backend": keras.backend.backend(),
        "train_images_per_second": train["throughput"],
        "train_steps_measured": train["timed_steps"],
        "predict_images_per_second": rounds * len(images) / predict_seconds,
        "devices": device_names(),
        "versions": library_versions(),
    }
    print(
        f"benchmark: {args.backbone}+{args.neck} {args.image_size}px batch {args.batch_size} {args.precision} on "
        f"{result['backend']}: train {result['train_images_per_second']:.1f} images/s, "
        f"predict {result['predict_images_per_second']:.1f} images/s"
    )
    if args.output:
        from keras_centernet import atomic_files

        atomic_files.write_json(args.output, result)
    return 0
