"""CenterNetLabelEncoder: padded boxes and labels -> dense CenterNet training targets, on the device."""

import keras
from keras import ops

from keras_centernet.layers.gaussian import HEATMAP_GAUSSIANS, RADIUS_VARIANTS, gaussian_kernels, gaussian_radius


@keras.saving.register_keras_serializable(package="keras_centernet")
class CenterNetLabelEncoder(keras.layers.Layer):
    """Encodes padded boxes into CenterNet targets with keras.ops, vectorized over batch and boxes.

    Each valid box draws one truncated Gaussian (see `layers/gaussian.py`) on its class channel, centered on the
    integer output cell of the box center; overlapping Gaussians of one class take the element-wise max, so the
    heatmap is exactly 1 at every center and in [0, 1] everywhere. Boxes are clipped to the image first; padded rows
    (label -1), boxes with a NaN or infinite coordinate, degenerate boxes (x2 <= x1 or y2 <= y1 after clipping) and
    labels outside [0, num_classes) contribute nothing (mask 0, zero size and offset, index 0), so every output is
    finite whatever the boxes hold.

    heatmap_gaussian: "paper" (default: radius from the ceiled box size in cells, Gaussian truncated to its
    (2r+1)^2 window, as xingyizhou/CenterNet) or "od_api" (the TF Object Detection API's
    CenterNetCenterHeatmapTargetAssigner: radius from the float box size, Gaussian over the whole map; same
    sigma = (2 floor(r) + 1) / 6 and the same integer center cell).

    Call args:
        boxes: float [batch, max_boxes, 4] xyxy in input pixels, padded with -1.
        labels: int [batch, max_boxes], padded with -1.
        image_shape: keyword, (height, width) of the input images (python ints).
    Returns dict:
        heatmap: float32 [batch, height / stride, width / stride, num_classes]
        size: float32 [batch, max_boxes, 2] box (w, h) in output cells
        offset: float32 [batch, max_boxes, 2] center minus its integer cell, in [0, 1)
        indices: int32 [batch, max_boxes] flat index y * out_width + x of each center cell
        mask: float32 [batch, max_boxes] 1 for boxes that count, else 0
    """

    def __init__(
        self, num_classes, stride=4, min_overlap=0.7, radius_variant="cornernet", heatmap_gaussian="paper", **kwargs
    ):
        kwargs.setdefault("dtype", "float32")  # box coordinates stay float32 under mixed precision
        super().__init__(**kwargs)
        if radius_variant not in RADIUS_VARIANTS:
            raise ValueError(f"radius_variant must be one of {RADIUS_VARIANTS}, got {radius_variant!r}")
        if heatmap_gaussian not in HEATMAP_GAUSSIANS:
            raise ValueError(f"heatmap_gaussian must be one of {HEATMAP_GAUSSIANS}, got {heatmap_gaussian!r}")
        self.num_classes = int(num_classes)
        self.stride = int(stride)
        self.min_overlap = float(min_overlap)
        self.radius_variant = radius_variant
        self.heatmap_gaussian = heatmap_gaussian
        self.built = True  # no weights (see CenterNetDecoder)

    def call(self, boxes, labels, *, image_shape):
        image_height, image_width = int(image_shape[0]), int(image_shape[1])
        out_h, out_w = image_height // self.stride, image_width // self.stride
        boxes = ops.cast(boxes, "float32")
        labels = ops.cast(labels, "int32")
        finite = ops.all(ops.isfinite(boxes), axis=-1)  # NaN / inf boxes count as padding: zeros never reach the loss
        boxes = ops.where(finite[..., None], boxes, 0.0)
        labels = ops.where(finite, labels, -1)
        x1 = ops.clip(boxes[..., 0], 0.0, float(image_width))
        y1 = ops.clip(boxes[..., 1], 0.0, float(image_height))
        x2 = ops.clip(boxes[..., 2], 0.0, float(image_width))
        y2 = ops.clip(boxes[..., 3], 0.0, float(image_height))
        valid = (labels >= 0) & (labels < self.num_classes) & (x2 > x1) & (y2 > y1)
        mask = ops.cast(valid, "float32")

        # Box geometry in output cells.
        w = (x2 - x1) / self.stride
        h = (y2 - y1) / self.stride
        cx = (x1 + x2) / (2.0 * self.stride)
        cy = (y1 + y2) / (2.0 * self.stride)
        cx_int = ops.clip(ops.floor(cx), 0.0, float(out_w - 1))
        cy_int = ops.clip(ops.floor(cy), 0.0, float(out_h - 1))
        paper = self.heatmap_gaussian == "paper"
        if paper:
            radius = gaussian_radius(ops.ceil(h), ops.ceil(w), self.min_overlap, self.radius_variant)
        else:  # the OD API: float box size
            radius = gaussian_radius(h, w, self.min_overlap, self.radius_variant)
        radius = ops.maximum(ops.floor(radius), 0.0)

        # One Gaussian per box [B, M, h, w], zeroed for invalid boxes, then max over boxes of each class.
        kernels = gaussian_kernels(cx_int, cy_int, radius, out_h, out_w, truncate=paper) * mask[..., None, None]
        batch = ops.shape(labels)[0]
        max_boxes = ops.shape(labels)[1]
        image_index = ops.arange(batch, dtype="int32")[:, None]
        safe_labels = ops.where(valid, labels, 0)
        segment = ops.where(valid, image_index * self.num_classes + safe_labels, batch * self.num_classes)
        flat_kernels = ops.reshape(kernels, (batch * max_boxes, out_h, out_w))
        heatmap = ops.segment_max(
            flat_kernels, ops.reshape(segment, (-1,)), num_segments=batch * self.num_classes + 1
        )[:-1]
        heatmap = ops.maximum(heatmap, 0.0)  # empty segments come back as the dtype's lowest value
        heatmap = ops.reshape(heatmap, (batch, self.num_classes, out_h, out_w))
        heatmap = ops.transpose(heatmap, (0, 2, 3, 1))

        size = ops.stack([w, h], axis=-1) * mask[..., None]
        offset = ops.stack([cx - cx_int, cy - cy_int], axis=-1) * mask[..., None]
        indices = ops.cast(cy_int * out_w + cx_int, "int32") * ops.cast(valid, "int32")
        return {"heatmap": heatmap, "size": size, "offset": offset, "indices": indices, "mask": mask}

    def compute_output_spec(self, boxes, labels, *, image_shape):
        out_h, out_w = int(image_shape[0]) // self.stride, int(image_shape[1]) // self.stride
        batch, max_boxes = boxes.shape[0], boxes.shape[1]
        return {
            "heatmap": keras.KerasTensor((batch, out_h, out_w, self.num_classes), "float32"),
            "size": keras.KerasTensor((batch, max_boxes, 2), "float32"),
            "offset": keras.KerasTensor((batch, max_boxes, 2), "float32"),
            "indices": keras.KerasTensor((batch, max_boxes), "int32"),
            "mask": keras.KerasTensor((batch, max_boxes), "float32"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            stride=self.stride,
            min_overlap=self.min_overlap,
            radius_variant=self.radius_variant,
            heatmap_gaussian=self.heatmap_gaussian,
        )
        return config
