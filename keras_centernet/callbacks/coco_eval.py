"""Periodic COCO mAP during `fit`: adds val_AP, val_AP50, ... to the epoch logs.

Put it BEFORE `ModelCheckpoint(monitor="val_AP", mode="max")` / `EarlyStopping` in the callbacks list:
Keras hands every callback the same logs dict in list order. The evaluation itself is
`evaluation.coco.evaluate_dataset`, which maps boxes and class ids back with `preprocessing` (the letterbox
inverse and class map that `Detector` and the exported SavedModel use).
"""

import keras

from keras_centernet.evaluation.coco import STAT_NAMES, evaluate_dataset, evaluate_model
from keras_centernet.inference import set_flip_test


class CocoEvalCallback(keras.callbacks.Callback):
    """Evaluate COCO box mAP every `every_n_epochs` epochs (and after the last one).

    Args:
      dataset: the evaluation `tf.data` pipeline (`build_dataset(..., training=False)`, elements
        `(images, {"boxes", "labels", "image_info"})`), or an in-memory tuple `(images, boxes, labels)`
        with boxes in input pixels (e.g. the synthetic set).
      ground_truth: COCO dict / annotation json / pycocotools COCO; None builds it from the dataset's
        targets (see `evaluate_dataset`).
      every_n_epochs: evaluate when (epoch + 1) is a multiple of it, and at the final epoch.
      final_epoch: the run's last epoch (1-based), evaluated whatever every_n_epochs; None: the last epoch of each
        `fit` call (train() passes the plan's: a resumed run ends its interrupted epoch in a fit of its own).
      flip_test: evaluate with flip test-time augmentation (the model's setting is restored after).
      is_chief: True, False, or an object with `.is_chief` (`distribution.Runtime`). Only the chief
        evaluates; with a Horovod runtime its metrics are broadcast so every rank logs the same values,
        otherwise the other ranks add nothing.
      prefix: key prefix of the logged metrics ("val_" -> val_AP, val_AP50, ...).
      per_class: also log `{prefix}AP/<class name>`.
      batch_size: predict batch size for in-memory data.
      verbose: print the metrics table after each evaluation.

    After an evaluation `self.history` holds `(epoch, metrics)` pairs and `self.last_detections` the
    COCO results entries of the latest one (tf.data input).
    """

    def __init__(
        self,
        dataset,
        ground_truth=None,
        every_n_epochs=1,
        flip_test=False,
        is_chief=True,
        prefix="val_",
        per_class=False,
        batch_size=8,
        verbose=0,
        final_epoch=None,
    ):
        super().__init__()
        if int(every_n_epochs) < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.dataset = dataset
        self.ground_truth = ground_truth
        self.every_n_epochs = int(every_n_epochs)
        self.flip_test = bool(flip_test)
        self.runtime = None if isinstance(is_chief, bool) else is_chief
        self.is_chief = bool(is_chief if self.runtime is None else self.runtime.is_chief)
        self.prefix = prefix
        self.per_class = bool(per_class)
        self.batch_size = int(batch_size)
        self.verbose = int(verbose)
        self.final_epoch = None if final_epoch is None else int(final_epoch)
        self.history = []
        self.last_detections = None

    def _due(self, epoch):
        last = self.final_epoch or (self.params.get("epochs") if self.params else None)
        return (epoch + 1) % self.every_n_epochs == 0 or (last is not None and epoch + 1 == last)

    def evaluate(self):
        """Run the evaluation now; returns the metrics dict of `evaluate_detections`."""
        previous = bool(getattr(self.model, "flip_test", False))
        set_flip_test(self.model, self.flip_test)
        try:
            if isinstance(self.dataset, (tuple, list)):
                images, boxes, labels = self.dataset
                return evaluate_model(self.model, images, boxes, labels, batch_size=self.batch_size)
            metrics, self.last_detections = evaluate_dataset(
                self.model, self.dataset, ground_truth=self.ground_truth, return_detections=True
            )
            return metrics
        finally:
            set_flip_test(self.model, previous)

    def on_epoch_end(self, epoch, logs=None):
        if not self._due(epoch):
            return
        metrics = self.evaluate() if self.is_chief else None
        if self.runtime is not None and getattr(self.runtime, "use_horovod", False):
            metrics = _broadcast_from_chief(metrics)
        if metrics is None:
            return
        if self.is_chief:
            self.history.append((epoch, metrics))
            if self.verbose:
                from keras_centernet.evaluation.coco import format_metrics

                print(f"\nEpoch {epoch + 1}: COCO evaluation\n{format_metrics(metrics)}")
        if logs is not None:
            logs.update({f"{self.prefix}{name}": metrics[name] for name in STAT_NAMES})
            if self.per_class:
                for name, value in metrics.get("per_class_AP", {}).items():
                    logs[f"{self.prefix}AP/{name}"] = value


def _broadcast_from_chief(metrics):
    """Horovod: every rank gets rank 0's 12 stats (per-class AP stays on the chief)."""
    import horovod.tensorflow as hvd
    import numpy as np
    import tensorflow as tf

    values = np.zeros(len(STAT_NAMES), np.float64)
    if metrics is not None:
        values[:] = [metrics[name] for name in STAT_NAMES]
    values = hvd.broadcast(tf.constant(values), root_rank=0, name="coco_eval_metrics").numpy()
    if metrics is not None:
        return metrics
    return {name: float(value) for name, value in zip(STAT_NAMES, values)}
