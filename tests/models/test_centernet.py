import keras
import numpy as np
import pytest

from keras_centernet import CenterNet
from tests.helpers import as_numpy

TARGET_KEYS = ("boxes", "labels")


def test_outputs_shapes_and_float32(tiny_model):
    model = tiny_model(4)
    outputs = as_numpy(model(np.zeros((2, 64, 96, 3), np.float32)))
    assert outputs["heatmap"].shape == (2, 16, 24, 4)
    assert outputs["size"].shape == outputs["offset"].shape == (2, 16, 24, 2)
    assert all(v.dtype == np.float32 for v in outputs.values())
    # heatmap bias -2.19: an untrained model starts with confidence ~0.1 everywhere on a flat image
    assert abs(float(1 / (1 + np.exp(-outputs["heatmap"].mean()))) - 0.1) < 0.05


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_outputs_and_training_stay_finite(tiny_model, synthetic_64, policy):
    keras.mixed_precision.set_global_policy(policy)
    images, boxes, labels = synthetic_64
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(images[:16].astype("float32"), {"boxes": boxes[:16], "labels": labels[:16]},
                        batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    outputs = as_numpy(model(images[:2].astype("float32")))
    assert all(v.dtype == np.float32 for v in outputs.values())


def test_fit_logs_the_three_losses_and_their_weighted_sum(tiny_model, synthetic_64):
    images, boxes, labels = synthetic_64
    model = tiny_model(3)
    model.compile(keras.optimizers.SGD(0.0), heatmap_loss_weight=2.0, size_loss_weight=0.5, offset_loss_weight=3.0)
    history = model.fit(images[:8].astype("float32"), {"boxes": boxes[:8], "labels": labels[:8]},
                        batch_size=8, epochs=1, verbose=0).history
    assert {"loss", "heatmap_loss", "size_loss", "offset_loss"} <= set(history)
    expected = 2.0 * history["heatmap_loss"][0] + 0.5 * history["size_loss"][0] + 3.0 * history["offset_loss"][0]
    assert history["loss"][0] == pytest.approx(expected, rel=1e-4)
    evaluated = model.evaluate(images[:8].astype("float32"), {"boxes": boxes[:8], "labels": labels[:8]},
                               batch_size=8, verbose=0, return_dict=True)
    assert {"loss", "heatmap_loss", "size_loss", "offset_loss"} <= set(evaluated)
    assert evaluated["loss"] == pytest.approx(
        2.0 * evaluated["heatmap_loss"] + 0.5 * evaluated["size_loss"] + 3.0 * evaluated["offset_loss"], rel=1e-4
    )


def test_zero_box_batch_gives_finite_loss_and_gradients(tiny_model):
    model = tiny_model(3)
    model.compile(keras.optimizers.SGD(0.1))
    images = np.random.default_rng(0).uniform(0, 255, size=(4, 64, 64, 3)).astype("float32")
    y = {"boxes": -np.ones((4, 8, 4), np.float32), "labels": -np.ones((4, 8), np.int32)}
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(images, y, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and history["size_loss"][0] == 0.0 and history["offset_loss"][0] == 0.0
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # heatmap negatives still teach


def test_predict_returns_decoded_detections(tiny_model):
    model = tiny_model(3, max_detections=20, score_threshold=0.0)
    detections = model.predict(np.zeros((3, 64, 64, 3), np.uint8), verbose=0)
    assert detections["boxes"].shape == (3, 20, 4)
    assert detections["scores"].shape == detections["labels"].shape == (3, 20)
    assert detections["num_detections"].tolist() == [20, 20, 20]
    assert np.all(detections["boxes"] >= 0) and np.all(detections["boxes"] <= 64)
    assert np.all(np.diff(detections["scores"], axis=1) <= 0)  # sorted by score


def test_flip_test_is_symmetric(tiny_model):
    model = tiny_model(2, flip_test=True, max_detections=5)
    image = np.random.default_rng(1).uniform(0, 255, size=(1, 64, 64, 3)).astype("float32")
    plain = model.predict(image, verbose=0)
    mirrored = model.predict(image[:, :, ::-1], verbose=0)
    # the averaged heatmap of an image and of its mirror are mirror images: same scores
    np.testing.assert_allclose(np.sort(plain["scores"][0]), np.sort(mirrored["scores"][0]), rtol=1e-4)


def test_get_config_round_trips_every_argument(tiny_model):
    model = tiny_model(
        2, head_channels=16, max_detections=7, score_threshold=0.2, flip_test=True, radius_variant="corrected",
        min_overlap=0.5, class_ids=[3, 17], class_names=["cat", "dog"], name="my_detector",
    )
    config = model.get_config()
    clone = CenterNet.from_config(config)
    assert clone.get_config() == config
    assert config["backbone"] == "tiny" and config["neck"] == "deconv" and config["class_ids"] == [3, 17]
    assert (clone.decoder.max_detections, clone.encoder.radius_variant, clone.flip_test) == (7, "corrected", True)


def test_keras_file_round_trip_gives_identical_predictions(tiny_model, synthetic_64, tmp_path):
    images, boxes, labels = synthetic_64
    model = tiny_model(3, class_names=["a", "b", "c"])
    model.compile(keras.optimizers.Adam(1e-3), size_loss_weight=0.2)
    model.fit(images[:8].astype("float32"), {"boxes": boxes[:8], "labels": labels[:8]}, batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, CenterNet) and loaded.class_names == ["a", "b", "c"]
    assert loaded.size_loss_weight == 0.2 and loaded.optimizer is not None
    expected, got = model.predict(images[8:12], verbose=0), loaded.predict(images[8:12], verbose=0)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_custom_backbone_model_round_trips(tmp_path):
    from keras_centernet.models.backbones import backbone_from_model

    inputs = keras.Input((None, None, 3))
    x, features = inputs, []
    for i, filters in enumerate((8, 8, 16, 16)):
        x = keras.layers.Conv2D(filters, 3, strides=4 if i == 0 else 2, padding="same", name=f"c{i}")(x)
        features.append(x)
    backbone = backbone_from_model(keras.Model(inputs, features), name="custom_backbone")
    model = CenterNet(2, backbone=backbone, neck="fpn", head_channels=8)
    assert model(np.zeros((1, 64, 64, 3), np.float32))["heatmap"].shape == (1, 16, 16, 2)
    model.save(tmp_path / "custom.keras")
    loaded = keras.saving.load_model(tmp_path / "custom.keras")
    image = np.full((1, 64, 64, 3), 100.0, np.float32)
    np.testing.assert_allclose(as_numpy(loaded(image))["size"], as_numpy(model(image))["size"], rtol=1e-6)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="class_ids"):
        CenterNet(3, backbone="tiny", class_ids=[1, 2])
    with pytest.raises(ValueError, match="tiny"):
        CenterNet(3, backbone="resnet9000")
    model = CenterNet(2, backbone="tiny", neck="fpn")
    with pytest.raises(ValueError, match="loss weights"):
        model.compile("adam", loss="mse")


def test_every_layer_is_built_after_one_training_step(tiny_model, synthetic_64):
    """An unbuilt (weightless) layer makes Keras re-trace the whole model on each JAX/torch train_on_batch."""
    images, boxes, labels = synthetic_64
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-3))
    model.train_on_batch(images[:2].astype("float32"), {"boxes": boxes[:2], "labels": labels[:2]})
    unbuilt = [layer.name for layer in model._flatten_layers(include_self=False) if not layer.built]
    assert unbuilt == []


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_image_sides_not_multiple_of_32_fail_up_front(tiny_model, method):
    from keras_centernet.validation import InputError

    model = tiny_model(3)
    model.compile(keras.optimizers.SGD(0.1))
    images = np.zeros((2, 100, 100, 3), np.float32)
    y = {"boxes": -np.ones((2, 4, 4), np.float32), "labels": -np.ones((2, 4), np.int32)}
    args = (images,) if method == "predict" else (images, y)
    with pytest.raises(InputError, match=r"^image height must be a positive multiple of 32, got 100 \(nearest: 96\)$"):
        getattr(model, method)(*args, verbose=0)
    with pytest.raises(InputError, match="image width must be a positive multiple of 32, got 72"):
        model(np.zeros((1, 64, 72, 3), np.float32))
    with pytest.raises(InputError, match=r"images must be \[batch, height, width, 3\].*\(1, 64, 64, 1\)"):
        model.predict(np.zeros((1, 64, 64, 1), np.float32), verbose=0)


def test_predict_and_fit_at_a_second_size_after_the_first(tiny_model, synthetic_64):
    model = tiny_model(3, max_detections=7)
    first = as_numpy(model.predict(np.zeros((1, 64, 64, 3), np.float32), verbose=0))
    assert first["boxes"].shape == (1, 7, 4)
    images = np.random.default_rng(0).uniform(0, 255, (3, 96, 128, 3)).astype(np.float32)
    second = as_numpy(model.predict(images, batch_size=2, verbose=0))
    assert second["boxes"].shape == (3, 7, 4) and second["num_detections"].tolist() == [7, 7, 7]
    assert second["boxes"].min() >= 0 and second["boxes"][..., 2].max() <= 128 and second["boxes"][..., 3].max() <= 96
    # the same detections as a fresh predict at that size, and back to the first size
    np.testing.assert_allclose(second["scores"][:1], as_numpy(model.predict_on_batch(images[:1]))["scores"], atol=1e-6)
    np.testing.assert_allclose(as_numpy(model.predict(np.zeros((1, 64, 64, 3), np.float32), verbose=0))["scores"],
                               first["scores"], atol=1e-6)
    images, boxes, labels = synthetic_64
    model.compile(keras.optimizers.SGD(0.0))
    model.fit(images[:2].astype("float32"), {"boxes": boxes[:2], "labels": labels[:2]}, verbose=0)
    padded = np.pad(images[:2], ((0, 0), (0, 32), (0, 0), (0, 0))).astype("float32")  # 96 x 64
    history = model.fit(padded, {"boxes": boxes[:2], "labels": labels[:2]}, verbose=0).history
    assert np.isfinite(history["loss"][0])


def test_nan_and_infinite_boxes_never_reach_the_weights(tiny_model, synthetic_64):
    images, boxes, labels = synthetic_64
    images, boxes, labels = images[:4].astype("float32"), boxes[:4].copy(), labels[:4].copy()
    assert labels[0, 0] >= 0 and labels[1, 0] >= 0
    boxes[0, 0] = [np.nan, 10.0, 30.0, 30.0]
    boxes[1, 0] = [0.0, 0.0, np.inf, np.inf]
    model = tiny_model(3)
    model.compile(keras.optimizers.Adam(1e-2))
    history = model.fit(images, {"boxes": boxes, "labels": labels}, batch_size=4, epochs=3, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values()), history
    assert all(np.isfinite(w).all() for w in model.get_weights())
    encoded = as_numpy(model.encoder(boxes, labels, image_shape=(64, 64)))
    clean_labels = labels.copy()
    clean_labels[0, 0] = clean_labels[1, 0] = -1  # the bad boxes as padding
    expected = as_numpy(model.encoder(np.nan_to_num(boxes, posinf=-1), clean_labels, image_shape=(64, 64)))
    np.testing.assert_array_equal(encoded["heatmap"], expected["heatmap"])
    assert encoded["mask"][0, 0] == encoded["mask"][1, 0] == 0.0
