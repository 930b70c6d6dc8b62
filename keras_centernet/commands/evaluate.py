"""`keras-centernet evaluate`: COCO box mAP of a saved model on a dataset folder's val TFRecords."""

import json
import math
import os
import re

from keras_centernet.commands.flags import add_bool


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="COCO mAP of a saved model on the val TFRecords",
        description=(
            "Run a saved CenterNet (.keras) over DIR/tfrecords/coco_val.record-* (letterboxed to --image_size, "
            "by default the size the model was trained at), "
            "score the detections with pycocotools against --annotations (or ground truth read from the "
            "records), print the 12-number COCO table and per-class AP, and write the metrics and the "
            "detections (COCO results format, original pixels and category ids) as json. With --detections "
            "it scores an existing results json instead of running a model."
        ),
    )
    parser.add_argument("--data_dir", required=True, help="dataset folder (convert-coco/voc)")
    parser.add_argument("--weights", help="saved model (.keras); required unless --detections is given")
    parser.add_argument("--annotations", help="COCO annotation json (e.g. instances_val2017.json)")
    parser.add_argument("--split", default="val", help="record split to evaluate (default: val)")
    add_bool(parser, "--flip", False, "flip test-time augmentation")
    parser.add_argument("--batch_size", type=int, default=8, help="images per batch")
    parser.add_argument(
        "--image_size",
        type=int,
        help="model input side (default: the size the model was trained at, else 512)",
    )
    parser.add_argument("--max_images", type=int, help="evaluate only the first N images")
    parser.add_argument("--output", default="metrics.json", help="metrics json path (default: metrics.json)")
    parser.add_argument(
        "--detections_output",
        help="detections json path (default: detections.json beside --output)",
    )
    parser.add_argument(
        "--detections", help="score this COCO results json instead of running a model (no --weights needed)"
    )
    parser.set_defaults(func=run)
    return parser


def _ground_truth(args, file_pattern, label_map):
    from keras_centernet.evaluation.ground_truth import ground_truth_from_json, ground_truth_from_tfrecords

    if args.annotations:
        return ground_truth_from_json(args.annotations)
    return ground_truth_from_tfrecords(file_pattern, label_map=label_map)


def _check_args(args):
    """InputError naming the flag for every user mistake, before any model or record is read."""
    import glob

    from keras_centernet.data import layout
    from keras_centernet.validation import (
        InputError,
        check_dir_exists,
        check_file_exists,
        check_image_size,
        check_positive,
        check_writable_dir,
    )

    check_dir_exists(args.data_dir, "--data_dir")
    if not args.weights and not args.detections:
        raise InputError("--weights model.keras (or --detections results.json) is required")
    if args.image_size is not None:
        check_image_size(args.image_size, "--image_size")
    check_positive(args.batch_size, "--batch_size")
    if args.max_images is not None:
        check_positive(args.max_images, "--max_images")
    for flag in ("weights", "annotations", "detections"):
        if getattr(args, flag):
            check_file_exists(getattr(args, flag), f"--{flag}")
    pattern = layout.record_file_pattern(args.data_dir, args.split)
    needs_records = not args.detections or not args.annotations  # the model's input, or the ground truth
    if needs_records and not glob.glob(pattern):
        raise InputError(f"--data_dir {args.data_dir!r}: no {args.split} records ({pattern})")
    for path in (args.output, args.detections_output):
        if path:
            check_writable_dir(os.path.dirname(os.path.abspath(path)), "--output")


def _read_detections(path):
    """A COCO results json (list of {"image_id", "category_id", "bbox", "score"}), else InputError."""
    from keras_centernet.validation import InputError

    try:
        with open(path) as file:
            detections = json.load(file)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"--detections {path!r}: not a json file ({error})") from None
    if not isinstance(detections, list):
        raise InputError(f"--detections {path!r}: expected a list of COCO results, got {type(detections).__name__}")
    return detections


def run(args):
    from keras_centernet.atomic_files import write_json
    from keras_centernet.data import layout
    from keras_centernet.evaluation.coco import evaluate_detections, format_metrics

    _check_args(args)
    file_pattern = layout.record_file_pattern(args.data_dir, args.split)
    label_map = layout.label_map_path(args.data_dir)
    label_map = label_map if os.path.isfile(label_map) else None
    ground_truth = _ground_truth(args, file_pattern, label_map)

    if args.detections:
        detections = _read_detections(args.detections)
        metrics = evaluate_detections(detections, ground_truth)
        num_images, image_size = len(ground_truth["images"]), args.image_size
    else:
        metrics, detections, num_images, image_size = _run_model(args, file_pattern, label_map, ground_truth)

    print(format_metrics(metrics))
    report = {
        "weights": args.weights,
        "detections": args.detections,
        "data_dir": args.data_dir,
        "split": args.split,
        "annotations": args.annotations,
        "image_size": image_size,
        "flip": bool(args.flip),
        "num_images": num_images,
        "metrics": {key: value for key, value in metrics.items() if key != "per_class_AP"},
        "per_class_AP": metrics["per_class_AP"],
    }
    write_json(args.output, report)
    print(f"metrics: {args.output}")
    if not args.detections:
        detections_path = args.detections_output or os.path.join(
            os.path.dirname(os.path.abspath(args.output)), "detections.json"
        )
        write_json(detections_path, detections, indent=None)  # COCO results: compact, can be large
        print(f"detections: {detections_path} ({len(detections)} boxes)")
    return 0


_LISTED = 3  # classes named per kind of difference; the rest are counted
_PLACEHOLDER_NAME = re.compile(r"class_\d+")  # CenterNet's default class_names: no name to compare


def _some(items):
    more = f", +{len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


def check_classes(model_ids, model_names, categories, weights, source, dataset_names_known=True):
    """The model's classes (dataset ids and names) against the scored dataset's `categories` ([{"id", "name"}]).

    Detections are scored by class id and the table is printed under the dataset's names, so: the same ids and
    names -> None; they share at least one class (same id, same name) but differ otherwise (renamed ids, dataset
    classes the model never predicts and that score AP 0, model classes the dataset lacks) -> one warning line
    naming the differences; no shared class -> InputError (every number of the table would be about other classes).
    A model name `class_N` (the default when none were given) and dataset names read from neither a label map nor
    an annotation json (`dataset_names_known` False) are not compared: ids decide.
    """
    from keras_centernet.validation import InputError

    model = {int(i): str(n) for i, n in zip(model_ids, model_names)}
    dataset = {int(c["id"]): str(c["name"]) for c in categories}

    def same(class_id):
        name = model[class_id]
        return not dataset_names_known or _PLACEHOLDER_NAME.fullmatch(name) or name == dataset[class_id]

    shared = [i for i in sorted(model) if i in dataset and same(i)]
    renamed = [f"{i} {model[i]!r}/{dataset[i]!r}" for i in sorted(model) if i in dataset and not same(i)]
    missing = [f"{i} {dataset[i]!r}" for i in sorted(dataset) if i not in model]
    extra = [f"{i} {model[i]!r}" for i in sorted(model) if i not in dataset]
    if not (renamed or missing or extra):
        return None
    if not shared:
        listed = [f"{i} {n!r}" for i, n in sorted(model.items())]
        raise InputError(
            f"{weights} was trained on other classes than {source}: no class has the same id and name in both "
            f"(model: {_some(listed)}; dataset: {_some([f'{i} {n!r}' for i, n in sorted(dataset.items())])}); "
            "evaluate it on the dataset it was trained on, or train one on this dataset (train --fine_tune_ckpt)"
        )
    kinds = [
        (renamed, "named differently (model/dataset)"),
        (missing, "of the dataset not in the model (AP 0)"),
        (extra, "of the model not in the dataset (not scored)"),
    ]
    parts = [f"{len(items)} {kind}: {_some(items)}" for items, kind in kinds if items]
    return (
        f"the classes of {weights} differ from {source}: {'; '.join(parts)}; the {len(shared)} shared class(es) are "
        "scored by id under the dataset's names"
    )


def _run_model(args, file_pattern, label_map, ground_truth):
    from tqdm import tqdm

    from keras_centernet.commands.loading import load_centernet
    from keras_centernet.data.pipeline import build_dataset
    from keras_centernet.evaluation.coco import evaluate_dataset
    from keras_centernet.inference import set_flip_test
    from keras_centernet.preprocessing import Letterbox

    model = load_centernet(args.weights)
    set_flip_test(model, args.flip)
    image_size = Letterbox.for_model(model, args.image_size).image_size
    if args.annotations:
        source = f"the categories of --annotations {args.annotations!r}"
    else:
        source = f"the {'label map' if label_map else 'records'} of --data_dir {args.data_dir!r}"
    warning = check_classes(
        model.class_ids, model.class_names, ground_truth["categories"], f"--weights {args.weights!r}", source,
        dataset_names_known=bool(args.annotations or label_map),
    )  # fmt: skip
    if warning:
        print(f"evaluate: warning: {warning}")
    dataset = build_dataset(
        file_pattern,
        training=False,
        batch_size=args.batch_size,
        image_size=image_size,
        label_map=label_map if label_map is not None else list(model.class_ids),
    )
    num_images = len(ground_truth["images"])
    if args.max_images:
        dataset = dataset.take(math.ceil(args.max_images / args.batch_size))
        num_images = min(num_images, math.ceil(args.max_images / args.batch_size) * args.batch_size)
    batches = tqdm(dataset, total=math.ceil(num_images / args.batch_size), desc="evaluate", unit="batch")
    metrics, detections = evaluate_dataset(model, batches, ground_truth=ground_truth, return_detections=True)
    return metrics, detections, num_images, image_size
