"""`keras-centernet evaluate` compares the model's classes (ids and names saved in the .keras) with the dataset's
label map: the same -> silent; some shared -> one warning line naming the differences; none shared -> refused in one
line before any detection is run (the AP table would name classes the model never learned)."""

import pytest

from keras_centernet.cli import main
from keras_centernet.commands.evaluate import check_classes
from keras_centernet.validation import InputError
from tests.commands.records import save_tiny_model

DATASET = [{"id": 3, "name": "rectangle"}, {"id": 17, "name": "ellipse"}, {"id": 90, "name": "triangle"}]


def _check(ids, names, categories=DATASET, known=True):
    return check_classes(ids, names, categories, "--weights 'm.keras'", "the label map of --data_dir 'd'", known)


def test_the_same_classes_say_nothing():
    assert _check([3, 17, 90], ["rectangle", "ellipse", "triangle"]) is None
    assert _check([3, 17, 90], ["class_0", "class_1", "class_2"]) is None  # a model built without names: ids decide
    assert _check([3, 17, 90], ["a", "b", "c"], [{"id": i, "name": str(i)} for i in (3, 17, 90)], known=False) is None


def test_partly_shared_classes_are_one_warning_line_naming_each_difference():
    assert _check([3, 17, 90], ["rectangle", "circle", "triangle"]) == (
        "the classes of --weights 'm.keras' differ from the label map of --data_dir 'd': 1 named differently "
        "(model/dataset): 17 'circle'/'ellipse'; the 2 shared class(es) are scored by id under the dataset's names"
    )
    assert _check([3], ["rectangle"]) == (
        "the classes of --weights 'm.keras' differ from the label map of --data_dir 'd': 2 of the dataset not in the "
        "model (AP 0): 17 'ellipse', 90 'triangle'; the 1 shared class(es) are scored by id under the dataset's names"
    )
    many = _check([3, 17, 90, 1, 2, 4, 5], ["rectangle", "ellipse", "triangle", "a", "b", "c", "d"])
    assert "\n" not in many and "4 of the model not in the dataset (not scored): 1 'a', 2 'b', 4 'c', +1 more" in many


@pytest.mark.parametrize(
    "ids, names",
    [([3, 17, 90], ["square", "circle", "arrow"]), ([1, 2], ["rectangle", "ellipse"]), ([1, 2], ["cat", "dog"])],
)
def test_no_shared_class_is_refused_in_one_line(ids, names):
    with pytest.raises(InputError) as error:
        _check(ids, names)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "--weights 'm.keras' was trained on other classes than the label map of --data_dir 'd': no class has the "
        f"same id and name in both (model: {ids[0]} {names[0]!r}, "
    )
    assert "dataset: 3 'rectangle', 17 'ellipse', 90 'triangle'); evaluate it on the dataset it was trained" in message


def _evaluate(synthetic_records, tmp_path, capsys, class_ids, class_names):
    weights = str(tmp_path / "model.keras")
    save_tiny_model(weights, num_classes=len(class_ids), class_ids=class_ids, class_names=class_names,
                    image_size=64, max_detections=5)  # fmt: skip
    capsys.readouterr()
    code = main(["evaluate", "--data_dir", synthetic_records, "--weights", weights, "--max_images", "4",
                 "--batch_size", "4", "--output", str(tmp_path / "metrics.json")])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err, weights


@pytest.mark.tensorflow
def test_evaluate_warns_on_a_model_of_some_of_the_dataset_classes(synthetic_records, tmp_path, capsys):
    code, out, _, weights = _evaluate(synthetic_records, tmp_path, capsys, [3, 17], ["rectangle", "ellipse"])
    assert code == 0 and (tmp_path / "metrics.json").exists()
    warnings = [line for line in out.splitlines() if "warning" in line]
    assert warnings == [
        f"evaluate: warning: the classes of --weights {weights!r} differ from the label map of --data_dir "
        f"{synthetic_records!r}: 1 of the dataset not in the model (AP 0): 90 'triangle'; the 2 shared class(es) are "
        "scored by id under the dataset's names"
    ]


@pytest.mark.tensorflow
def test_evaluate_is_silent_on_the_model_of_the_dataset(synthetic_records, tmp_path, capsys):
    code, out, _, _ = _evaluate(synthetic_records, tmp_path, capsys, [3, 17, 90], ["rectangle", "ellipse", "triangle"])
    assert code == 0 and "warning" not in out


@pytest.mark.tensorflow
def test_evaluate_refuses_a_model_of_other_classes_and_writes_nothing(synthetic_records, tmp_path, capsys):
    code, out, err, weights = _evaluate(synthetic_records, tmp_path, capsys, [3, 17, 90], ["square", "circle", "arrow"])
    assert code == 2
    assert err.splitlines() == [
        f"keras-centernet evaluate: error: --weights {weights!r} was trained on other classes than the label map of "
        f"--data_dir {synthetic_records!r}: no class has the same id and name in both (model: 3 'square', "
        "17 'circle', 90 'arrow'; dataset: 3 'rectangle', 17 'ellipse', 90 'triangle'); evaluate it on the dataset "
        "it was trained on, or train one on this dataset (train --fine_tune_ckpt)"
    ]
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "detections.json").exists()
