"""CenterNetDecoder: head outputs -> top-K boxes in input pixels (keras.ops, any backend)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_centernet")
class CenterNetDecoder(keras.layers.Layer):
    """Peak extraction and box decoding (CenterNet section 4).

    A cell is a peak when it equals the 3x3 max-pool of the heatmap (this replaces NMS); the top `max_detections`
    peaks over all classes become boxes (center + offset +- max(size, 0) / 2) * stride, clipped to the image.
    Detections with score below `score_threshold` are dropped: rows past `num_detections` are padded (boxes -1,
    labels -1, scores 0).

    Call args:
        outputs: dict with "heatmap" [batch, h, w, classes], "size" [batch, h, w, 2] (w, h in cells) and
            "offset" [batch, h, w, 2]. "heatmap" holds logits unless `from_logits=False` is passed.
    Returns dict:
        boxes: float32 [batch, K, 4] xyxy in input pixels; scores: float32 [batch, K];
        labels: int32 [batch, K] contiguous class ids; num_detections: int32 [batch].
    """

    def __init__(self, max_detections=100, score_threshold=0.0, stride=4, pool_size=3, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.max_detections = int(max_detections)
        self.score_threshold = float(score_threshold)
        self.stride = int(stride)
        self.pool_size = int(pool_size)
        # No weights: mark built so Keras never re-traces the model for it (the decoder is not called by `fit`,
        # and an unbuilt layer makes JAX/torch `train_on_batch` run a symbolic build every call).
        self.built = True

    def call(self, outputs, from_logits=True):
        heatmap = ops.cast(outputs["heatmap"], "float32")
        probs = ops.sigmoid(heatmap) if from_logits else heatmap
        size = ops.cast(outputs["size"], "float32")
        offset = ops.cast(outputs["offset"], "float32")
        _, height, width, num_classes = probs.shape
        batch = ops.shape(probs)[0]

        pooled = ops.max_pool(probs, pool_size=self.pool_size, strides=1, padding="same")
        peaks = ops.where(ops.equal(probs, pooled), probs, 0.0)
        k = min(self.max_detections, height * width * num_classes)
        scores, flat_index = ops.top_k(ops.reshape(peaks, (batch, -1)), k=k)
        labels = ops.cast(flat_index % num_classes, "int32")
        cell = flat_index // num_classes
        xs = ops.cast(cell % width, "float32")
        ys = ops.cast(cell // width, "float32")

        cell_index = ops.expand_dims(cell, -1)
        box_size = ops.maximum(ops.take_along_axis(ops.reshape(size, (batch, -1, 2)), cell_index, axis=1), 0.0)
        box_offset = ops.take_along_axis(ops.reshape(offset, (batch, -1, 2)), cell_index, axis=1)
        cx = xs + box_offset[..., 0]
        cy = ys + box_offset[..., 1]
        half_w, half_h = box_size[..., 0] / 2.0, box_size[..., 1] / 2.0
        max_x, max_y = float(width * self.stride), float(height * self.stride)
        boxes = ops.stack(
            [
                ops.clip((cx - half_w) * self.stride, 0.0, max_x),
                ops.clip((cy - half_h) * self.stride, 0.0, max_y),
                ops.clip((cx + half_w) * self.stride, 0.0, max_x),
                ops.clip((cy + half_h) * self.stride, 0.0, max_y),
            ],
            axis=-1,
        )

        keep = (scores > 0.0) & (scores >= self.score_threshold)
        return {
            "boxes": ops.where(keep[..., None], boxes, -1.0),
            "scores": ops.where(keep, scores, 0.0),
            "labels": ops.where(keep, labels, -1),
            "num_detections": ops.sum(ops.cast(keep, "int32"), axis=1),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            max_detections=self.max_detections,
            score_threshold=self.score_threshold,
            stride=self.stride,
            pool_size=self.pool_size,
        )
        return config
