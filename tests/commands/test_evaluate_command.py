"""`keras-centernet evaluate`: perfect detections on real (deepforest) annotations score AP 1, the written
json re-scores to the printed metrics, and a trained model reproduces the AP its callback logged."""

import contextlib
import io
import json
import os
from xml.etree import ElementTree

import numpy as np
import pytest

from keras_centernet.cli import main
from keras_centernet.evaluation.coco import STAT_NAMES, evaluate_detections
from tests.commands.records import copy_deepforest, save_tiny_model, write_synthetic_split

pytestmark = pytest.mark.tensorflow


def _convert_deepforest(tmp_path):
    """deepforest's VOC annotations -> DIR with val TFRecords (via the converter); returns (DIR, xml paths)."""
    from keras_centernet.data.voc import convert_voc

    xml_paths = copy_deepforest(tmp_path / "voc")
    data_dir = str(tmp_path / "dataset")
    convert_voc(str(tmp_path / "voc"), output=data_dir, split="val", progress=False)
    return data_dir, xml_paths


def _run(argv):
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert main(argv) == 0
    return output.getvalue()


def test_perfect_detections_on_deepforest_score_ap_one(tmp_path):
    from keras_centernet.evaluation.ground_truth import ground_truth_from_tfrecords

    data_dir, xml_paths = _convert_deepforest(tmp_path)
    gt = ground_truth_from_tfrecords(os.path.join(data_dir, "tfrecords", "coco_val.record-*"))
    ids = {image["source_id"]: image["id"] for image in gt["images"]}
    category = {c["name"]: c["id"] for c in gt["categories"]}
    assert sorted(category) == ["Alive", "Dead", "Tree"]
    detections = []
    for path in xml_paths:  # boxes read straight from the xml, not from the records
        stem = os.path.splitext(os.path.basename(path))[0]
        for element in ElementTree.parse(path).getroot().iter("object"):
            box = element.find("bndbox")
            x1, y1, x2, y2 = (float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            detections.append(
                {
                    "image_id": ids[stem],
                    "category_id": category[element.find("name").text],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": 1.0,
                }
            )
    assert len(detections) == 61 + 37
    (tmp_path / "perfect.json").write_text(json.dumps(detections))
    metrics_path = tmp_path / "metrics.json"
    printed = _run(
        [
            "evaluate",
            "--data_dir",
            data_dir,
            "--detections",
            str(tmp_path / "perfect.json"),
            "--output",
            str(metrics_path),
        ]
    )
    report = json.loads(metrics_path.read_text())
    assert report["metrics"]["AP"] == pytest.approx(1.0)
    assert report["metrics"]["AP50"] == pytest.approx(1.0)
    assert report["per_class_AP"] == {"Alive": 1.0, "Dead": 1.0, "Tree": 1.0}
    assert "Average Precision" in printed and "Tree" in printed

    # Jittered: the metrics of the command equal pycocotools on the json files it read.
    rng = np.random.default_rng(0)
    jittered = [
        dict(d, bbox=list(np.add(d["bbox"], rng.normal(0, 2, 4))), score=float(rng.uniform())) for d in detections
    ]
    (tmp_path / "jittered.json").write_text(json.dumps(jittered))
    _run(
        [
            "evaluate",
            "--data_dir",
            data_dir,
            "--detections",
            str(tmp_path / "jittered.json"),
            "--output",
            str(metrics_path),
        ]
    )
    report = json.loads(metrics_path.read_text())
    direct = _pycocotools_stats(gt, tmp_path / "jittered.json", tmp_path)
    assert 0.1 < report["metrics"]["AP"] < 0.99
    assert [report["metrics"][name] for name in STAT_NAMES] == direct


def _pycocotools_stats(gt, detections_path, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    (tmp_path / "gt.json").write_text(json.dumps(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "gt.json"))
        evaluator = COCOeval(coco, coco.loadRes(str(detections_path)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats]


def test_model_evaluation_writes_consistent_json(tmp_path):
    from keras_centernet.evaluation.ground_truth import ground_truth_from_tfrecords

    data_dir, _ = _convert_deepforest(tmp_path)
    weights = str(tmp_path / "tree.keras")
    save_tiny_model(weights, num_classes=1, class_ids=[3], class_names=["Tree"], max_detections=50)  # id 3: Tree
    metrics_path = tmp_path / "out" / "metrics.json"
    _run(
        [
            "evaluate",
            "--data_dir",
            data_dir,
            "--weights",
            weights,
            "--image_size",
            "128",
            "--batch_size",
            "2",
            "--output",
            str(metrics_path),
            "--flip",
        ]
    )
    report = json.loads(metrics_path.read_text())
    assert report["num_images"] == 2 and report["flip"] is True
    detections = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert len(detections) == 2 * 50
    gt = ground_truth_from_tfrecords(os.path.join(data_dir, "tfrecords", "coco_val.record-*"))
    sizes = {image["id"]: (image["width"], image["height"]) for image in gt["images"]}
    for detection in detections:
        x, y, w, h = detection["bbox"]
        width, height = sizes[detection["image_id"]]
        assert detection["category_id"] == 3 and 0 <= x and x + w <= width + 1e-3 and y + h <= height + 1e-3
    rescored = evaluate_detections(detections, gt)
    assert [rescored[name] for name in STAT_NAMES] == [report["metrics"][name] for name in STAT_NAMES]
    assert [rescored[name] for name in STAT_NAMES] == _pycocotools_stats(
        gt, tmp_path / "out" / "detections.json", tmp_path
    )


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--data_dir", "{tmp}/missing", "--weights", "m.keras"], "--data_dir '{tmp}/missing': no such folder"),
        (["--data_dir", "{data}"], "--weights model.keras (or --detections results.json) is required"),
        (["--data_dir", "{data}", "--weights", "{tmp}/model.keras", "--image_size", "100"],
         "--image_size must be a positive multiple of 32, got 100 (nearest: 96)"),
        (["--data_dir", "{data}", "--weights", "{tmp}/model.keras", "--batch_size", "0"],
         "--batch_size must be an integer >= 1, got 0"),
        (["--data_dir", "{data}", "--weights", "{tmp}/model.keras", "--max_images", "-3"],
         "--max_images must be an integer >= 1, got -3"),
        (["--data_dir", "{data}", "--weights", "{tmp}/nope.keras"], "--weights '{tmp}/nope.keras': no such file"),
        (["--data_dir", "{data}", "--weights", "{tmp}/model.keras", "--split", "test"],
         "--data_dir '{data}': no test records ({data}/tfrecords/coco_test.record-*)"),
        (["--data_dir", "{data}", "--weights", "{tmp}/text.keras"],
         "{tmp}/text.keras is not a valid .keras model file (not a zip archive)"),
        (["--data_dir", "{data}", "--detections", "{tmp}/text.keras"],
         "--detections '{tmp}/text.keras': not a json file (Expecting value: line 1 column 1 (char 0))"),
    ],
)
def test_bad_arguments_are_one_line_naming_the_flag(tmp_path, synthetic_records, capsys, flags, message):
    (tmp_path / "model.keras").write_bytes(b"")  # never loaded: every check runs before the model
    (tmp_path / "text.keras").write_text("not a model\n")
    fill = {"tmp": str(tmp_path), "data": synthetic_records}
    code = main(["evaluate", *[flag.format(**fill) for flag in flags], "--output", str(tmp_path / "m.json")])
    assert code == 2
    assert capsys.readouterr().err == f"keras-centernet evaluate: error: {message.format(**fill)}\n"
    assert not (tmp_path / "m.json").exists()


@pytest.mark.slow
def test_evaluate_reproduces_the_callback_ap_of_the_same_weights(tmp_path):
    import keras

    from keras_centernet.callbacks.coco_eval import CocoEvalCallback
    from keras_centernet.data.pipeline import build_dataset
    from keras_centernet.data.synthetic import make_synthetic_dataset
    from keras_centernet.evaluation.ground_truth import ground_truth_from_tfrecords

    data_dir = str(tmp_path / "synthetic")
    write_synthetic_split(data_dir, "train", *make_synthetic_dataset(64, image_size=96, max_boxes=8, seed=1))
    write_synthetic_split(data_dir, "val", *make_synthetic_dataset(12, image_size=96, max_boxes=8, seed=2), 1000)
    train = build_dataset(
        os.path.join(data_dir, "tfrecords", "coco_train.record-*"),
        training=True,
        batch_size=8,
        image_size=64,
        max_boxes=8,
        seed=0,
    )
    val_pattern = os.path.join(data_dir, "tfrecords", "coco_val.record-*")
    val = build_dataset(val_pattern, training=False, batch_size=4, image_size=64, max_boxes=8)
    model = save_tiny_model(str(tmp_path / "init.keras"), image_size=64)  # evaluate below uses 64 without the flag
    model.compile(optimizer=keras.optimizers.Adam(4e-3))
    coco_eval = CocoEvalCallback(val, ground_truth=ground_truth_from_tfrecords(val_pattern, label_map=None))
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_AP", mode="max", save_best_only=True
    )
    model.fit(train, epochs=8, verbose=0, callbacks=[coco_eval, checkpoint])
    assert [epoch for epoch, _ in coco_eval.history] == list(range(8))
    best_epoch, best = max(coco_eval.history, key=lambda item: item[1]["AP"])
    print(f"callback: best epoch {best_epoch + 1} AP {best['AP']:.4f} AP50 {best['AP50']:.4f}")
    assert best["AR100"] > 0

    metrics_path = tmp_path / "metrics.json"
    _run(
        [
            "evaluate",
            "--data_dir",
            data_dir,
            "--weights",
            str(tmp_path / "best.keras"),
            "--batch_size",
            "4",
            "--output",
            str(metrics_path),
        ]
    )
    report = json.loads(metrics_path.read_text())
    for name in STAT_NAMES:
        assert report["metrics"][name] == pytest.approx(best[name], abs=1e-6), name
    assert set(report["per_class_AP"]) == {"rectangle", "ellipse", "triangle"}
    # the old default (512) letterboxes 96 px images x5.3 for a model trained at 64: far worse
    _run(["evaluate", "--data_dir", data_dir, "--weights", str(tmp_path / "best.keras"), "--image_size", "512",
          "--output", str(tmp_path / "at512.json")])  # fmt: skip
    at512 = json.loads((tmp_path / "at512.json").read_text())["metrics"]
    print(f"at 64: AP {best['AP']:.4f} AR100 {best['AR100']:.4f}; at 512: {at512['AP']:.4f} {at512['AR100']:.4f}")
    assert at512["AR100"] < best["AR100"]


@pytest.mark.parametrize(
    "model_size,flags,expected",
    [(64, [], 64), (None, [], 512), (64, ["--image_size", "96"], 96)],
)
def test_image_size_defaults_to_the_size_the_model_was_trained_at(
    tmp_path, synthetic_records, monkeypatch, model_size, flags, expected
):
    from keras_centernet.data import pipeline

    built = []
    original = pipeline.build_dataset
    monkeypatch.setattr(pipeline, "build_dataset", lambda *a, **k: built.append(k["image_size"]) or original(*a, **k))
    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, image_size=model_size, max_detections=5)
    metrics_path = tmp_path / "metrics.json"
    _run(["evaluate", "--data_dir", synthetic_records, "--weights", weights, "--max_images", "4",
          "--batch_size", "4", "--output", str(metrics_path), *flags])  # fmt: skip
    assert built == [expected] and json.loads(metrics_path.read_text())["image_size"] == expected
