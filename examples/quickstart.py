"""keras-centernet quickstart (`make demo`): a tree detector from real aerial photos, on a CPU, in a few minutes.

The photos and hand-drawn tree boxes are the sample data the `deepforest` package ships (installed by `make venv`
with `--no-deps`; only its data/ folder is read). One class, "Tree":

1. data: the two large Yellowstone photos (2019_YELL_2_*, 853 trees) are cut into 400 px tiles and, with
   OSBS_029 (Florida, 61 trees), become the training set; SOAP_061 (California, 37 trees, its "Alive" and
   "Dead" labels merged into "Tree") is held out for evaluation. Nothing from the SOAP site is trained on.
   Both are written as VOC xml and converted with `keras-centernet convert-voc`;
2. trains a small CenterNet (tiny backbone + FPN) with `keras-centernet train`;
3. scores it with `keras-centernet evaluate` (pycocotools COCO AP on the held-out SOAP_061);
4. draws detections (score >= 0.25) with `keras-centernet detect` on SOAP_061 and on SOAP_031 (a photo with no
   annotations, from the same held-out site);
5. prints the time of each stage and a table of results and output paths.

    python examples/quickstart.py [--output demo_output] [--steps 600] [--image_size 256]
"""

import argparse
import importlib.util
import io
import os
import shutil
import sys
import time
from xml.etree import ElementTree

CLASS_NAME = "Tree"
TRAIN_PHOTOS = ("2019_YELL_2_528000_4978000_image_crop2", "2019_YELL_2_541000_4977000_image_crop", "OSBS_029")
HELDOUT_PHOTO = "SOAP_061"  # annotated, never trained on: evaluated and drawn
UNLABELLED_PHOTO = "SOAP_031"  # no annotations anywhere: drawn only
SCORE_THRESHOLD = 0.25  # after a few minutes of training the scores of real trees are ~0.25-0.45


def import_package_lazily():
    """Imports keras_centernet without Keras, as the `keras-centernet` console script does: TensorFlow then loads in
    the first command's quiet start, whose start-up lines go to a log file, not to the demo's output."""
    os.environ["KERAS_CENTERNET_LAZY_IMPORT"] = "1"
    try:
        import keras_centernet  # noqa: F401 - each command registers the Keras classes in its quiet start
    finally:
        del os.environ["KERAS_CENTERNET_LAZY_IMPORT"]  # child processes (conversion workers) import it whole


def deepforest_folder():
    """deepforest's data/ folder (photos + VOC xml); exits with one line when the package is missing."""
    spec = importlib.util.find_spec("deepforest")
    folder = os.path.join(os.path.dirname(spec.origin), "data") if spec and spec.origin else None
    if folder is None or not os.path.isfile(os.path.join(folder, HELDOUT_PHOTO + ".xml")):
        sys.exit("quickstart: deepforest's sample photos are missing: run `make venv` "
                 "(or `pip install --no-deps deepforest==2.1.0`)")  # fmt: skip
    return folder


def read_boxes(xml_path):
    """float boxes [N, 4] xyxy in pixels of the photo annotated by `xml_path` (every class becomes one)."""
    boxes = []
    for element in ElementTree.parse(xml_path).getroot().iter("object"):
        box = element.find("bndbox")
        boxes.append([float(box.find(key).text) for key in ("xmin", "ymin", "xmax", "ymax")])
    return boxes


def voc_xml(file_name, width, height, boxes):
    """A Pascal VOC annotation (str) of `boxes` (xyxy pixels), all named CLASS_NAME."""
    objects = "".join(
        f"<object><name>{CLASS_NAME}</name><bndbox><xmin>{x0:.0f}</xmin><ymin>{y0:.0f}</ymin>"
        f"<xmax>{x1:.0f}</xmax><ymax>{y1:.0f}</ymax></bndbox></object>"
        for x0, y0, x1, y1 in boxes
    )
    size = f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
    return f"<annotation><filename>{file_name}</filename>{size}{objects}</annotation>\n"


def run_cli(argv):
    """Runs `keras-centernet ARGV...` in this process; exits the demo when the command fails."""
    from keras_centernet.cli import main as cli

    status = cli(argv)
    if status:
        sys.exit(f"quickstart: `keras-centernet {argv[0]}` failed (exit status {status})")


def tile_boxes(boxes, left, top, side, min_visible=0.6):
    """Boxes of one `side` px tile at (left, top), clipped and shifted to it; kept when >= min_visible in it."""
    kept = []
    for x0, y0, x1, y1 in boxes:
        cx0, cy0, cx1, cy1 = max(x0, left), max(y0, top), min(x1, left + side), min(y1, top + side)
        area = (x1 - x0) * (y1 - y0)
        if cx1 > cx0 and cy1 > cy0 and (cx1 - cx0) * (cy1 - cy0) >= min_visible * area:
            kept.append((cx0 - left, cy0 - top, cx1 - left, cy1 - top))
    return kept


def write_tiles(source, name, destination, side=400):
    """Cut photo `name` (png + xml in `source`) into `side` px tiles with their boxes (VOC) in `destination`.

    A photo no larger than `side` is one tile. Returns (tiles, boxes) written.
    """
    from PIL import Image

    from keras_centernet.atomic_files import write_bytes, write_text

    image = Image.open(os.path.join(source, name + ".png")).convert("RGB")
    boxes = read_boxes(os.path.join(source, name + ".xml"))
    tiles = written = 0
    for top in range(0, max(1, image.height - side // 2), side):
        for left in range(0, max(1, image.width - side // 2), side):
            tile = image.crop((left, top, min(left + side, image.width), min(top + side, image.height)))
            kept = tile_boxes(boxes, left, top, side)
            file_name = f"{name}_{top}_{left}.png"
            png = io.BytesIO()
            tile.save(png, format="PNG")
            write_bytes(os.path.join(destination, file_name), png.getvalue())
            xml = voc_xml(file_name, tile.width, tile.height, kept)
            write_text(os.path.join(destination, file_name[:-4] + ".xml"), xml)
            tiles, written = tiles + 1, written + len(kept)
    return tiles, written


def prepare_data(source, out):
    """VOC folders out/voc/{train,val} -> TFRecords in out/data (convert-voc); returns (data_dir, counts)."""
    data_dir = os.path.join(out, "data")
    counts = {}
    for split, names in (("train", TRAIN_PHOTOS), ("val", (HELDOUT_PHOTO,))):
        voc_dir = os.path.join(out, "voc", split)
        shutil.rmtree(voc_dir, ignore_errors=True)
        os.makedirs(voc_dir)
        tiles = [write_tiles(source, name, voc_dir) for name in names]
        counts[split] = tuple(sum(column) for column in zip(*tiles))
        run_cli(["convert-voc", "--annotations", voc_dir, "--output", data_dir, "--split", split,
                 "--classes", CLASS_NAME, "--num_shards", "1", "--no_progress"])  # fmt: skip
    return data_dir, counts


def train(data_dir, model_dir, args):
    """`keras-centernet train` from scratch (an earlier demo's model_dir is removed: train would resume it)."""
    shutil.rmtree(model_dir, ignore_errors=True)
    run_cli(["train", "--data_dir", data_dir, "--model_dir", model_dir, "--backbone", "tiny", "--neck", "fpn",
         "--image_size", str(args.image_size), "--batch_size", str(args.batch_size),
         "--num_train_steps", str(args.steps), "--steps_per_epoch", str(max(1, args.steps // 4)),
         "--learning_rate", "5e-3", "--lr_reference_batch", str(args.batch_size), "--warmup_steps", "50",
         "--max_boxes", "128", "--use_performance", "--seed", "0"])  # fmt: skip
    return os.path.join(model_dir, "model.keras")


def evaluate(data_dir, weights, metrics_path, image_size):
    """`keras-centernet evaluate` on the held-out split; returns its metrics dict (AP, AP50, ...)."""
    import json

    run_cli(["evaluate", "--data_dir", data_dir, "--weights", weights, "--image_size", str(image_size),
         "--output", metrics_path])  # fmt: skip
    with open(metrics_path) as file:
        metrics = json.load(file)
    return metrics.get("metrics", metrics)


def detect(weights, detect_dir, photos, image_size):
    """`keras-centernet detect` on `photos`; returns the drawn images' paths."""
    shutil.rmtree(detect_dir, ignore_errors=True)
    run_cli(["detect", "--weights", weights, "--output", detect_dir, "--image_size", str(image_size),
         "--score_threshold", str(SCORE_THRESHOLD), *photos])  # fmt: skip
    return sorted(os.path.join(detect_dir, name) for name in os.listdir(detect_dir) if not name.endswith(".json"))


def print_table(title, rows):
    """Prints `rows` [(name, value)] as two aligned columns under `title`."""
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="demo_output", help="everything is written here (demo_output)")
    parser.add_argument("--image_size", "--image-size", type=int, default=256, help="model input side (256)")
    parser.add_argument("--steps", type=int, default=600, help="training steps of --batch_size tiles (600)")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=8, help="tiles per step (8)")
    return parser.parse_args(argv)


class Stages:
    """Prints numbered stage headers and keeps each stage's wall time."""

    def __init__(self, count):
        self.count, self.names, self.starts = count, [], [time.time()]

    def start(self, name, detail=""):
        if self.names:
            self.starts.append(time.time())
        self.names.append(name)
        print(f"[{len(self.names)}/{self.count}] {name}{detail}", flush=True)

    def rows(self):
        """[(stage, "N s")] for the finished stages and the total."""
        ends = self.starts[1:] + [time.time()]
        rows = [(name, f"{end - begin:.0f} s") for name, begin, end in zip(self.names, self.starts, ends)]
        return rows + [("total", f"{ends[-1] - self.starts[0]:.0f} s")]


def main(argv=None):
    args = parse_args(argv)
    import_package_lazily()
    source, out = deepforest_folder(), os.path.abspath(args.output)
    model_dir, detect_dir = os.path.join(out, "model"), os.path.join(out, "detections")
    metrics_path = os.path.join(out, "metrics.json")
    stages = Stages(4)
    stages.start("data", ": deepforest photos -> 400 px VOC tiles -> keras-centernet convert-voc")
    data_dir, counts = prepare_data(source, out)
    stages.start("train", f": keras-centernet train ({args.steps} steps, tiny + FPN, {args.image_size} px, CPU)")
    weights = train(data_dir, model_dir, args)
    stages.start("evaluate", f": keras-centernet evaluate (COCO AP on held-out {HELDOUT_PHOTO})")
    metrics = evaluate(data_dir, weights, metrics_path, args.image_size)
    stages.start("detect", f": keras-centernet detect ({HELDOUT_PHOTO}, {UNLABELLED_PHOTO})")
    photos = [os.path.join(source, name + ".png") for name in (HELDOUT_PHOTO, UNLABELLED_PHOTO)]
    drawn = detect(weights, detect_dir, photos, args.image_size)
    print_table("stage wall times (slower when others share the CPU)", stages.rows())
    print_table("keras-centernet demo results (one class: Tree)", [
        ("trained on", f"{counts['train'][0]} images, {counts['train'][1]} trees (Yellowstone tiles, OSBS_029)"),
        ("held out", f"{HELDOUT_PHOTO}: {counts['val'][1]} trees (Alive + Dead), never trained on"),
        ("COCO AP (held-out)", f"{metrics['AP']:.3f}"),
        ("COCO AP50 (held-out)", f"{metrics['AP50']:.3f}"),
        ("randomness", "--seed 0 fixes the weights, the data order and the augmentation: a rerun on this machine "
                       "prints the same AP; another processor's float arithmetic (oneDNN's kernels) trains another "
                       "way, see README"),
        ("model", weights),
        ("metrics", metrics_path),
        *[("drawn", path) for path in drawn],
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
