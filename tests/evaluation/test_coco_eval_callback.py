"""callbacks/coco_eval.py: val_AP in the fit logs drives ModelCheckpoint; the saved best model reproduces it."""

import pytest

from keras_centernet.callbacks.coco_eval import CocoEvalCallback
from keras_centernet.data.synthetic import SYNTHETIC_CLASS_NAMES, make_synthetic_dataset
from keras_centernet.evaluation.coco import STAT_NAMES, evaluate_dataset, evaluate_model

SIZE = 64


def _model():
    import keras

    from keras_centernet.models.centernet import CenterNet

    keras.utils.set_random_seed(0)
    model = CenterNet(
        3, backbone="tiny", neck="deconv", max_detections=20, class_ids=[2, 7, 11], class_names=SYNTHETIC_CLASS_NAMES
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    return model


@pytest.mark.slow
def test_callback_logs_val_ap_and_checkpoint_reproduces_it(tmp_path):
    import keras

    train = make_synthetic_dataset(48, image_size=SIZE, max_boxes=8, seed=1)
    val = make_synthetic_dataset(16, image_size=SIZE, max_boxes=8, seed=2)
    model = _model()
    coco_eval = CocoEvalCallback(val, every_n_epochs=2, batch_size=8)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_AP", mode="max", save_best_only=True
    )
    history = model.fit(
        train[0].astype("float32"),
        {"boxes": train[1], "labels": train[2]},
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[coco_eval, checkpoint],
    )
    # Evaluated at epoch 2 (every 2) and epoch 3 (the last one).
    assert [epoch for epoch, _ in coco_eval.history] == [1, 2]
    assert history.history["val_AP"] == [metrics["AP"] for _, metrics in coco_eval.history]
    assert history.history["val_AP50"] == [metrics["AP50"] for _, metrics in coco_eval.history]
    logged = {name: coco_eval.history[-1][1][name] for name in STAT_NAMES}
    assert all(0.0 <= logged[name] <= 1.0 for name in ("AP", "AP50", "AR100"))
    assert logged["AR100"] > 0.0  # the model finds something after 3 epochs

    best_epoch, best = max(coco_eval.history, key=lambda item: item[1]["AP"])
    loaded = keras.saving.load_model(tmp_path / "best.keras")
    again = evaluate_model(loaded, val[0], val[1], val[2], batch_size=8)
    for name in STAT_NAMES:
        assert again[name] == pytest.approx(best[name], abs=1e-6), name
    assert set(again["per_class_AP"]) == set(SYNTHETIC_CLASS_NAMES)


def test_not_chief_adds_nothing_and_flip_is_restored():
    val = make_synthetic_dataset(4, image_size=SIZE, max_boxes=8, seed=3)
    model = _model()
    logs = {}
    callback = CocoEvalCallback(val, is_chief=False)
    callback.set_model(model)
    callback.on_epoch_end(0, logs)
    assert logs == {} and callback.history == []

    class Runtime:
        is_chief = True
        use_horovod = False

    callback = CocoEvalCallback(val, is_chief=Runtime(), flip_test=True, per_class=True)
    callback.set_model(model)
    callback.on_epoch_end(0, logs)
    assert set(STAT_NAMES) <= {key[len("val_") :] for key in logs}
    assert "val_AP/ellipse" in logs
    assert model.flip_test is False
    with pytest.raises(ValueError, match="every_n_epochs"):
        CocoEvalCallback(val, every_n_epochs=0)


@pytest.mark.tensorflow
def test_tf_data_evaluation_equals_in_memory_evaluation():
    import tensorflow as tf

    images, boxes, labels = make_synthetic_dataset(10, image_size=SIZE, max_boxes=8, seed=4)
    model = _model()
    info = {
        "source_id": tf.constant([str(1 + i) for i in range(10)]),
        "height": tf.fill([10], SIZE),
        "width": tf.fill([10], SIZE),
        "scale": tf.ones([10], tf.float32),
    }
    dataset = tf.data.Dataset.from_tensor_slices(
        (images.astype("float32"), {"boxes": boxes, "labels": labels, "image_info": info})
    ).batch(4)
    in_memory = evaluate_model(model, images, boxes, labels, batch_size=4)
    metrics, detections = evaluate_dataset(model, dataset, return_detections=True)
    assert detections and {d["category_id"] for d in detections} <= {2, 7, 11}
    for name in STAT_NAMES:
        assert metrics[name] == pytest.approx(in_memory[name], abs=1e-6), name
    logs = {}
    callback = CocoEvalCallback(dataset)
    callback.set_model(model)
    callback.on_epoch_end(0, logs)
    assert logs["val_AP"] == pytest.approx(in_memory["AP"], abs=1e-6)
    assert callback.last_detections == detections


def test_the_runs_final_epoch_is_evaluated_not_the_end_of_each_fit():
    """train() ends an interrupted epoch in a fit of its own (epochs=5): with final_epoch=14 and every 10, only
    epochs 10 and 14 are evaluated, whatever each fit's last epoch is."""
    from keras_centernet.evaluation.coco import STAT_NAMES

    class Counting(CocoEvalCallback):
        def evaluate(self):
            return {name: 0.5 for name in STAT_NAMES}

    callback = Counting((None, None, None), every_n_epochs=10, final_epoch=14)
    evaluated = []
    for fit_epochs, epochs in ((5, range(4, 5)), (14, range(5, 14))):
        callback.set_params({"epochs": fit_epochs})
        for epoch in epochs:
            logs = {}
            callback.on_epoch_end(epoch, logs)
            if "val_AP" in logs:
                evaluated.append(epoch + 1)
    assert evaluated == [10, 14]
    assert [epoch for epoch, _ in callback.history] == [9, 13]
