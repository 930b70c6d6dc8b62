"""keras-centernet quickstart (`make demo`): the whole product on embedded data, on a CPU, in a few minutes.

1. writes a synthetic shapes dataset (3 classes) as TFRecords, so the real input pipeline runs;
2. trains a small CenterNet (tiny backbone + FPN) with `keras-centernet train`;
3. scores it with `keras-centernet evaluate` (pycocotools COCO mAP on held-out images);
4. draws detections with `keras-centernet detect` on held-out synthetic images and on a real photo from an
   installed package (imgaug's quokka.jpg; the model only knows rectangles, ellipses and triangles);
5. prints a table of results and output paths.

    python examples/quickstart.py [--output demo_output] [--steps 1600] [--image-size 64]
"""

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the demo output


def real_photo():
    """A real photo shipped by an installed package (imgaug's quokka.jpg), or None."""
    spec = importlib.util.find_spec("imgaug")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "quokka.jpg")
    return path if os.path.isfile(path) else None


def write_dataset(data_dir, image_size, train_images, val_images, heldout_dir, heldout_images, heldout_size=256):
    from PIL import Image

    from keras_centernet.data.synthetic import make_synthetic_dataset, write_synthetic_split

    images, boxes, labels = make_synthetic_dataset(train_images, image_size, max_boxes=16, seed=0)
    write_synthetic_split(data_dir, "train", images, boxes, labels)
    images, boxes, labels = make_synthetic_dataset(val_images, image_size, max_boxes=16, seed=1)
    write_synthetic_split(data_dir, "val", images, boxes, labels, first_id=100000)
    os.makedirs(heldout_dir, exist_ok=True)
    # larger pictures for drawing: `detect` letterboxes any size to the model's input and maps boxes back
    images, _, _ = make_synthetic_dataset(heldout_images, heldout_size, max_boxes=16, seed=2)
    for i, image in enumerate(images):
        Image.fromarray(image).save(os.path.join(heldout_dir, f"heldout_{i}.png"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="demo_output", help="everything is written here (demo_output)")
    parser.add_argument("--image-size", type=int, default=64, help="image and model input side (64)")
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--val-images", type=int, default=200)
    parser.add_argument("--steps", type=int, default=1600, help="training steps of --batch-size images (1600)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    from keras_centernet.cli import main as cli

    started = time.time()
    out = os.path.abspath(args.output)
    data_dir, model_dir = os.path.join(out, "data"), os.path.join(out, "model")
    heldout_dir, detect_dir = os.path.join(out, "heldout_images"), os.path.join(out, "detections")
    metrics_path = os.path.join(out, "metrics.json")
    size = str(args.image_size)

    print(f"[1/4] synthetic dataset -> {data_dir}", flush=True)
    if not os.path.isdir(os.path.join(data_dir, "tfrecords")):
        write_dataset(data_dir, args.image_size, args.train_images, args.val_images, heldout_dir, 8)

    print("[2/4] keras-centernet train (tiny backbone + FPN, CPU)", flush=True)
    shutil.rmtree(model_dir, ignore_errors=True)  # every demo trains from scratch (train would resume otherwise)
    shutil.rmtree(detect_dir, ignore_errors=True)
    steps_per_epoch = max(1, args.steps // 4)
    cli(["train", "--data_dir", data_dir, "--model_dir", model_dir, "--backbone", "tiny", "--neck", "fpn",
         "--image_size", size, "--batch_size", str(args.batch_size), "--num_train_steps", str(args.steps),
         "--steps_per_epoch", str(steps_per_epoch), "--learning_rate", "5e-3",
         "--lr_reference_batch", str(args.batch_size), "--warmup_steps", "50",
         "--max_boxes", "16", "--use_performance", "--seed", "0"])  # fmt: skip
    weights = os.path.join(model_dir, "model.keras")

    print("[3/4] keras-centernet evaluate (COCO mAP on held-out images)", flush=True)
    cli(["evaluate", "--data_dir", data_dir, "--weights", weights, "--image_size", size,
         "--output", metrics_path])  # fmt: skip

    print("[4/4] keras-centernet detect (held-out synthetic images and a real photo)", flush=True)
    inputs = [heldout_dir] + ([real_photo()] if real_photo() else [])
    cli(["detect", "--weights", weights, "--output", detect_dir, "--image-size", size, "--score-threshold", "0.3",
         *inputs])  # fmt: skip

    with open(metrics_path) as file:
        metrics = json.load(file)
    metrics = metrics.get("metrics", metrics)
    summary_path = os.path.join(model_dir, "summary", "summary.json")
    with open(summary_path) as file:
        performance = json.load(file)
    throughput = performance["throughput"]
    throughput = f"{throughput:.1f} images/s" if throughput else "n/a (no steps after the warm-up)"
    drawn = sorted(os.path.join(detect_dir, name) for name in os.listdir(detect_dir) if not name.endswith(".json"))
    rows = [
        ("COCO AP (held-out)", f"{metrics['AP']:.3f}"),
        ("COCO AP50 (held-out)", f"{metrics['AP50']:.3f}"),
        ("COCO AP75 (held-out)", f"{metrics['AP75']:.3f}"),
        ("training throughput", throughput),
        ("training end-to-end time", f"{performance['e2e_time']:.0f} s"),
        ("demo wall time", f"{time.time() - started:.0f} s"),
        ("model", weights),
        ("metrics", metrics_path),
        ("performance summary", summary_path),
        ("images with drawn boxes", detect_dir),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nkeras-centernet demo results")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for path in drawn:
        print(f"  drawn: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
