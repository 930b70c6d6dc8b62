"""A fixed, seeded training run on the synthetic set: the reference that tests and benchmarks compare against.

`train_and_evaluate_synthetic(policy)` trains a tiny CenterNet (tiny backbone + FPN) at 64 px on fresh synthetic images
(so it cannot memorize) with Adam and a warm-up + cosine schedule, then scores COCO AP on held-out synthetic images.
Used by the "it learns" test (AP50 >= 0.8 in ~1.5 minutes on 2 CPU cores) and by benchmarks/mixed_precision.py
(float32 vs mixed_bfloat16 vs mixed_float16 at the same seeds and steps).
"""

import keras

from keras_centernet.data.synthetic import SYNTHETIC_CLASS_NAMES, make_synthetic_dataset
from keras_centernet.evaluation.coco import evaluate_model


def synthetic_train_and_test_sets(image_size=64, train_images=4096, test_images=64, max_boxes=8):
    """((images, boxes, labels) for training, the same for held-out testing); fixed seeds 0 and 123."""
    return (
        make_synthetic_dataset(train_images, image_size, max_boxes=max_boxes, seed=0),
        make_synthetic_dataset(test_images, image_size, max_boxes=max_boxes, seed=123),
    )


def train_and_evaluate_synthetic(policy="float32", sets=None, epochs=4, batch_size=32, peak_learning_rate=5e-3, seed=1):
    """Trains under dtype `policy` and returns (history dict, COCO metrics dict on the held-out images).

    The global dtype policy is left at `policy`; callers that care restore it.
    """
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(seed)
    (images, boxes, labels), (test_images, test_boxes, test_labels) = sets or synthetic_train_and_test_sets()
    model = keras_centernet_model()
    steps = epochs * len(images) // batch_size
    schedule = keras.optimizers.schedules.CosineDecay(
        peak_learning_rate / 10, steps, alpha=0.01, warmup_target=peak_learning_rate, warmup_steps=steps // 10
    )
    model.compile(keras.optimizers.Adam(schedule))
    history = model.fit(
        images.astype("float32"), {"boxes": boxes, "labels": labels}, batch_size=batch_size, epochs=epochs, verbose=0
    ).history
    metrics = evaluate_model(model, test_images, test_boxes, test_labels, batch_size=32)
    return history, metrics


def keras_centernet_model():
    from keras_centernet.models.centernet import CenterNet

    return CenterNet(3, backbone="tiny", neck="fpn", class_names=list(SYNTHETIC_CLASS_NAMES))
