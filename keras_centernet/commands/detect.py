"""`keras-centernet detect`: images in, images with boxes, class names and scores drawn out (+ json)."""

import json
import os


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "detect",
        help="draw detections on images",
        description=(
            "Run a saved CenterNet (.keras) on images of any size (files or folders) and write each image "
            "with its boxes, class names and scores drawn into --output, plus detections.json "
            "(boxes xyxy in original pixels, scores, class ids and names)."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="IMAGES_OR_DIRS", help="image files and/or folders")
    parser.add_argument("--weights", required=True, help="saved model (.keras)")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument(
        "--score-threshold",
        "--score_threshold",
        dest="score_threshold",
        type=float,
        default=0.3,
        help="draw detections with at least this score (default 0.3)",
    )
    parser.add_argument("--image-size", "--image_size", dest="image_size", type=int, default=512)
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=8)
    parser.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    parser.add_argument("--line-width", "--line_width", dest="line_width", type=int, help="box line width (px)")
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


def run(args):
    from PIL import Image
    from tqdm import tqdm

    from keras_centernet.inference import Detector, detections_to_json, list_images, load_image
    from keras_centernet.visualization import draw_detections

    try:
        files = list_images(args.inputs)
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from None
    detector = Detector(
        args.weights,
        image_size=args.image_size,
        score_threshold=args.score_threshold,
        batch_size=args.batch_size,
        flip_test=args.flip,
    )
    os.makedirs(args.output, exist_ok=True)
    records, used = [], set()
    progress = tqdm(total=len(files), desc="detect", unit="image")
    for start in range(0, len(files), args.batch_size):
        chunk = files[start : start + args.batch_size]
        images = [load_image(path) for path in chunk]
        for path, image, result in zip(chunk, images, detector.detect(images)):
            drawn = draw_detections(
                image,
                result["boxes"],
                result["scores"],
                result["labels"],
                detector.class_names,
                line_width=args.line_width,
            )
            name = output_name(path, used)
            Image.fromarray(drawn).save(os.path.join(args.output, name), quality=95)
            record = detections_to_json(result, str(path))
            record["output"] = name
            records.append(record)
            progress.update(1)
    progress.close()
    json_path = os.path.join(args.output, "detections.json")
    with open(json_path, "w") as file:
        json.dump(records, file, indent=1)
    total = sum(len(r["detections"]) for r in records)
    print(f"{len(records)} images, {total} detections -> {args.output} (detections.json)")
    return 0
