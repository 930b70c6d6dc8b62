"""`keras-centernet detect`: images in, images with boxes, class names and scores drawn out (+ json)."""

import os
import sys

from keras_centernet.commands.flags import add_bool

EPILOG = (
    "Unreadable images (not an image, truncated) are skipped with one line naming each, and counted. "
    "Exit status: 0 when at least one image was processed, 1 when none could be read, 2 for bad arguments "
    "(image size not a multiple of 32, batch size < 1, missing image or folder, invalid .keras file)."
)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "detect",
        help="draw detections on images",
        description=(
            "Run a saved CenterNet (.keras) on images of any size (files or folders) and write each image "
            "with its boxes, class names and scores drawn into --output, plus detections.json "
            "(boxes xyxy in original pixels, scores, class ids and names). 16-bit images are scaled to "
            "0..255, palette images take their colours, alpha channels are dropped."
        ),
        epilog=EPILOG,
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGES_OR_DIRS", help="image files and/or folders")
    parser.add_argument("--weights", required=True, help="saved model (.keras)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument(
        "--score_threshold",
        type=float,
        default=0.3,
        help="draw detections with at least this score (default 0.3)",
    )
    parser.add_argument(
        "--image_size",
        type=int,
        help="model input side (x32; default: the size the model was trained at, else 512)",
    )
    parser.add_argument("--batch_size", type=int, default=8, help=">= 1")
    add_bool(parser, "--flip", False, "flip test-time augmentation")
    parser.add_argument("--line_width", type=int, help="box line width (px)")
    parser.set_defaults(func=run)
    return parser


def output_name(path, used):
    """File name for a drawn copy of `path`: same name (PNG kept lossless, others as JPEG), made unique."""
    stem, ext = os.path.splitext(os.path.basename(path))
    ext = ext.lower() if ext.lower() in (".png", ".jpg", ".jpeg") else ".png"
    name, count = f"{stem}{ext}", 1
    while name in used:
        name, count = f"{stem}_{count}{ext}", count + 1
    used.add(name)
    return name


def _check_args(args):
    """InputError for bad flags and missing inputs, before the model is loaded; returns the image files."""
    from keras_centernet.inference import list_images
    from keras_centernet.validation import InputError, check_image_size, check_positive, check_writable_dir

    if args.image_size is not None:
        check_image_size(args.image_size, "--image_size")
    check_positive(args.batch_size, "--batch_size")
    if args.line_width is not None:
        check_positive(args.line_width, "--line_width")
    try:
        files = list_images(args.inputs)
    except FileNotFoundError as error:
        raise InputError(f"IMAGES_OR_DIRS: {error}") from None
    check_writable_dir(args.output, "--output")
    return files


def _load_batch(paths, report):
    """Decodes `paths` -> (list of (path, uint8 [h, w, 3]), list of skipped paths); `report(line)` per skip."""
    from keras_centernet.inference import load_image

    loaded, skipped = [], []
    for path in paths:
        try:
            loaded.append((path, load_image(path)))
        except ValueError as error:
            report(f"skipped: {str(error).splitlines()[0]}")  # "cannot read image PATH: reason"
            skipped.append(str(path))
    return loaded, skipped


def _write_drawn(path, image, result, detector, args, used):
    """Draws `result` on `image`, writes it crash-safely into --output; returns its detections.json record."""
    from PIL import Image

    from keras_centernet.atomic_files import atomic_path
    from keras_centernet.inference import detections_to_json
    from keras_centernet.visualization import draw_detections

    drawn = draw_detections(
        image, result["boxes"], result["scores"], result["labels"], detector.class_names, line_width=args.line_width
    )
    name = output_name(path, used)
    with atomic_path(os.path.join(args.output, name)) as temporary:
        Image.fromarray(drawn).save(temporary, format="PNG" if name.endswith(".png") else "JPEG", quality=95)
    record = detections_to_json(result, str(path))
    record["output"] = name
    return record


def run(args):
    """Draws every readable image; returns 0 when at least one was processed, 1 when none could be read."""
    from tqdm import tqdm

    from keras_centernet.atomic_files import write_json
    from keras_centernet.commands.loading import load_centernet
    from keras_centernet.inference import Detector

    files = _check_args(args)
    detector = Detector(
        load_centernet(args.weights),
        image_size=args.image_size,
        score_threshold=args.score_threshold,
        batch_size=args.batch_size,
        flip_test=args.flip,
    )
    records, skipped, used = [], [], set()
    progress = tqdm(total=len(files), desc="detect", unit="image")
    for start in range(0, len(files), args.batch_size):
        loaded, bad = _load_batch(files[start : start + args.batch_size], lambda line: progress.write(line, sys.stderr))
        skipped.extend(bad)
        results = detector.detect([image for _, image in loaded]) if loaded else []
        for (path, image), result in zip(loaded, results):
            records.append(_write_drawn(path, image, result, detector, args, used))
        progress.update(len(loaded) + len(bad))
    progress.close()
    write_json(os.path.join(args.output, "detections.json"), records)
    total = sum(len(r["detections"]) for r in records)
    print(
        f"{len(records)} images, {total} detections, {len(skipped)} skipped (unreadable) "
        f"-> {args.output} (detections.json)"
    )
    return 0 if records else 1
