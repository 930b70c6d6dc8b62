"""CenterNet ("Objects as Points") as a keras.Model that trains with plain `fit`."""

import keras
from keras import ops

from keras_centernet.layers.decoder import CenterNetDecoder
from keras_centernet.layers.heads import HEATMAP_BIAS, CenterNetHead
from keras_centernet.layers.target_encoder import CenterNetLabelEncoder
from keras_centernet.losses.focal import PenaltyReducedFocalLoss
from keras_centernet.losses.regression import MaskedL1Loss
from keras_centernet.models.backbones import build_backbone
from keras_centernet.models.necks import build_neck
from keras_centernet.validation import InputError, check_image_size, check_positive

OUTPUT_STRIDE = 4
# The formats Keras core's keras.utils.bounding_boxes.convert_format takes (keras-hub's detectors use the same names);
# "rel_" forms are fractions of the input image's height and width.
BOUNDING_BOX_FORMATS = (
    "xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx", "rel_xywh", "rel_center_xywh"
)  # fmt: skip


def _unscale_for_logging(value):
    """Undo Keras's 1 / num_replicas loss scaling (tf.distribute) so logged losses are per-replica means."""
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    # Keras's own unscale_loss_for_distribution is private (keras.src); it multiplies by this same replica count
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return ops.multiply(value, ops.cast(replicas, value.dtype)) if replicas > 1 else value


def images_shape(x):
    """Static shape of the images in `x`: an array or tensor, {"images": ...}, or a tf.data.Dataset of (images, ...)
    or images. A tuple of ints and Nones, or None when unknown (generators, unknown rank)."""
    if hasattr(x, "element_spec"):
        x = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
    if isinstance(x, dict):
        x = x.get("images")
    shape = getattr(x, "shape", None)
    try:
        return None if shape is None else tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # a TensorShape of unknown rank
        return None


def check_images_shape(shape):
    """InputError unless `shape` (from `images_shape`) is [batch, height, width, 3] with height and width positive
    multiples of 32 (the backbones' largest stride); unknown (None) sizes pass."""
    if shape is None:
        return
    if len(shape) != 4 or shape[-1] not in (None, 3):
        raise InputError(f"images must be [batch, height, width, 3] (RGB, 0..255), got shape {shape}")
    for side, name in zip(shape[1:3], ("image height", "image width")):
        if side is not None:
            check_image_size(side, name)


def _gather_at(feature_map, indices):
    """[batch, h, w, k] values at flat cell indices [batch, n] -> [batch, n, k]."""
    channels = feature_map.shape[-1]
    flat = ops.reshape(feature_map, (ops.shape(feature_map)[0], -1, channels))
    return ops.take_along_axis(flat, ops.expand_dims(indices, -1), axis=1)


def _class_map(num_classes, class_ids, class_names):
    """(class_ids, class_names) with their defaults (1..num_classes and "class_<i>"); ValueError unless both
    have num_classes entries."""
    class_ids = list(range(1, num_classes + 1)) if class_ids is None else [int(i) for i in class_ids]
    class_names = [f"class_{i}" for i in range(num_classes)] if class_names is None else list(class_names)
    if len(class_ids) != num_classes or len(class_names) != num_classes:
        raise ValueError(
            f"class_ids ({len(class_ids)}) and class_names ({len(class_names)}) must have num_classes "
            f"({num_classes}) entries"
        )
    return class_ids, class_names


def check_bounding_box_format(value):
    """`value` when it is one of `BOUNDING_BOX_FORMATS`, else InputError naming bounding_box_format."""
    if value not in BOUNDING_BOX_FORMATS:
        raise InputError(f"bounding_box_format must be one of {', '.join(BOUNDING_BOX_FORMATS)}; got {value!r}")
    return value


def convert_boxes(boxes, source, target, image_shape):
    """Boxes [..., 4] from format `source` to `target` (see `BOUNDING_BOX_FORMATS`) for images of `image_shape`
    (height, width) in pixels, with Keras core's converter; unchanged (float32) when the formats are equal."""
    boxes = ops.cast(boxes, "float32")
    if source == target:
        return boxes
    height, width = image_shape
    return keras.utils.bounding_boxes.convert_format(boxes, source, target, height=height, width=width)


def real_image_cells(image_box, output_shape, stride):
    """Cell weights float32 [batch, h, w]: 1 for the output cells that overlap the real image `image_box` [batch, 4]
    (xyxy input pixels), 0 for those wholly on padding. Columns floor(x1 / stride) <= j < ceil(x2 / stride), rows
    alike; with the image at the top left this is the OD API's `valid_anchor_weights` (x < ceil(true width /
    stride), y < ceil(true height / stride))."""
    image_box = ops.cast(image_box, "float32") / float(stride)
    rows = ops.arange(output_shape[0], dtype="float32")[None, :]
    cols = ops.arange(output_shape[1], dtype="float32")[None, :]
    inside_y = (rows >= ops.floor(image_box[:, 1:2])) & (rows < ops.ceil(image_box[:, 3:4]))
    inside_x = (cols >= ops.floor(image_box[:, 0:1])) & (cols < ops.ceil(image_box[:, 2:3]))
    return ops.cast(inside_y[:, :, None] & inside_x[:, None, :], "float32")


def _head_outputs(features, num_classes, head_channels):
    """The stride-4 neck features -> {"heatmap", "size", "offset"} outputs of three `CenterNetHead`s."""
    return {
        "heatmap": CenterNetHead(num_classes, head_channels, HEATMAP_BIAS, name="heatmap_head")(features),
        "size": CenterNetHead(2, head_channels, 0.0, name="size_head")(features),
        "offset": CenterNetHead(2, head_channels, 0.0, name="offset_head")(features),
    }


def _backbone_model(backbone, weights):
    """A backbone name (see `models.backbones.BACKBONES`, built with `weights`) or a keras.Model -> the keras.Model."""
    if isinstance(backbone, str):
        return build_backbone(backbone, weights=weights)
    if isinstance(backbone, keras.Model):
        return backbone
    raise TypeError(f"backbone must be a name or a keras.Model, got {type(backbone).__name__}")


@keras.saving.register_keras_serializable(package="keras_centernet")
class CenterNet(keras.Model):
    """CenterNet detector: backbone -> stride-4 neck -> heatmap, size and offset heads.

    Inputs: images float [batch, height, width, 3] in 0..255 (height and width multiples of 32); the backbone
    normalizes inside. `call` returns {"heatmap": logits [batch, h, w, num_classes], "size": [batch, h, w, 2],
    "offset": [batch, h, w, 2]} with h, w = height / 4, width / 4, float32 under any precision policy.
    `fit` takes (images, {"boxes": [batch, max_boxes, 4] in `bounding_box_format`, "labels": [batch, max_boxes]})
    padded with -1 labels; targets are encoded on the device inside `compute_loss`. `predict` returns decoded
    detections {"boxes" in `bounding_box_format`, "scores", "labels", "num_detections"} (see `CenterNetDecoder`),
    padded rows' boxes -1.

    Args:
        num_classes: number of (contiguous) classes.
        backbone: a name from `models.backbones.BACKBONES` ("tiny", "resnet18", "resnet34", "resnet50", "resnet101")
            or a keras.Model from `backbone_from_model` (images -> [C2, C3, C4, C5]).
        neck: "fpn" (TF OD API resnet_v1_fpn, top-down to stride 4), "deconv" (the paper's 3 transposed convs) or
            "dcn" (the paper's ResDCN: a deformable 3x3 conv before each transposed conv).
        head_channels: channels of each head's 3x3 conv (64: the paper's ResNet heads; the OD API uses 256).
        bounding_box_format: format of the boxes `fit` takes and `predict` returns, one of `BOUNDING_BOX_FORMATS`
            ("xyxy" input pixels by default; "rel_" forms are fractions of the input height and width). Inside,
            boxes are xyxy input pixels; the model converts at its boundary with keras.utils.bounding_boxes.
        box_loss_normalization: "coordinates" (size and offset L1 divided by 2 x boxes, as the paper's code) or
            "boxes" (divided by the boxes, as the OD API: twice the weight). See `losses.MaskedL1Loss`.
        heatmap_gaussian: "paper" (ceiled box size, (2r+1)^2 window) or "od_api" (float box size, whole map): see
            `layers.CenterNetLabelEncoder`.
        heatmap_normalization: the focal loss divided by the number of peak cells ("peaks", the paper's code) or of
            boxes ("boxes", the OD API). See `losses.PenaltyReducedFocalLoss`.
        mask_padding: train the heatmap only on the cells of the real image (the OD API's `valid_anchor_weights`),
            so letterbox padding is not trained as background. Needs `y["image_box"]` [batch, 4] in
            `bounding_box_format` (`build_dataset` gives it); targets without it are not masked.
        backbone_weights: None, "imagenet" or a weights file for the backbone; used at construction only (the
            weights then live in the model's own checkpoints, so it is not part of `get_config`).
        max_detections, score_threshold: decoder settings for `predict`.
        flip_test: average the heatmaps and sizes of each image and its mirror in `predict` (paper's flip test).
        radius_variant, min_overlap: Gaussian radius settings of the target encoder (`layers/gaussian.py`).
        class_ids: dataset category id of each contiguous class (default 1..num_classes), used to map back for
            COCO evaluation; class_names: their names (default "class_<i>").
        image_size: side of the square input the model was trained for (None: unknown, e.g. models saved before
            it was recorded; evaluate/detect/export then use 512). `preprocessor` is its `Letterbox`.
    """

    def __init__(
        self,
        num_classes,
        backbone="resnet101",
        neck="fpn",
        head_channels=64,
        backbone_weights=None,
        max_detections=100,
        score_threshold=0.0,
        flip_test=False,
        radius_variant="cornernet",
        min_overlap=0.7,
        class_ids=None,
        class_names=None,
        image_size=None,
        bounding_box_format="xyxy",
        box_loss_normalization="coordinates",
        heatmap_gaussian="paper",
        heatmap_normalization="peaks",
        mask_padding=False,
        name="centernet",
        **kwargs,
    ):
        num_classes = int(num_classes)
        class_ids, class_names = _class_map(num_classes, class_ids, class_names)
        head_channels = check_positive(head_channels, "head_channels")
        bounding_box_format = check_bounding_box_format(bounding_box_format)
        regression_loss = MaskedL1Loss(normalization=box_loss_normalization)
        heatmap_loss = PenaltyReducedFocalLoss(normalization=heatmap_normalization)
        backbone_model = _backbone_model(backbone, backbone_weights)
        images = keras.Input(shape=(None, None, 3), name="images")
        features = backbone_model(images)
        features = build_neck(neck, name="neck")(features)
        outputs = _head_outputs(features, num_classes, head_channels)
        super().__init__(inputs=images, outputs=outputs, name=name, **kwargs)

        self.num_classes = num_classes
        self.backbone_name = backbone if isinstance(backbone, str) else None
        self.backbone_model = backbone_model
        self.neck_name = neck
        self.head_channels = head_channels
        self.bounding_box_format = bounding_box_format
        self.flip_test = bool(flip_test)
        self.mask_padding = bool(mask_padding)
        self.class_ids = class_ids
        self.class_names = class_names
        self.image_size = None if image_size is None else check_image_size(image_size, "image_size")
        self.stride = OUTPUT_STRIDE
        self.encoder = CenterNetLabelEncoder(
            num_classes, stride=OUTPUT_STRIDE, min_overlap=min_overlap, radius_variant=radius_variant,
            heatmap_gaussian=heatmap_gaussian,
        )  # fmt: skip
        self.decoder = CenterNetDecoder(max_detections, score_threshold, stride=OUTPUT_STRIDE)
        self._init_training_state(heatmap_loss, regression_loss)

    @property
    def heatmap_gaussian(self):
        return self.encoder.heatmap_gaussian

    @property
    def heatmap_normalization(self):
        return self.heatmap_loss.normalization

    def _init_training_state(self, heatmap_loss, regression_loss):
        """The loss objects and their trackers, default loss weights (`compile` sets them), the gradient reducer
        slot and the traced image sizes."""
        self.heatmap_loss = heatmap_loss
        self.regression_loss = regression_loss
        self.heatmap_loss_tracker = keras.metrics.Mean(name="heatmap_loss")
        self.size_loss_tracker = keras.metrics.Mean(name="size_loss")
        self.offset_loss_tracker = keras.metrics.Mean(name="offset_loss")
        self.gradient_reducer = None  # callable(list of gradients) -> list; Horovod plugs in here (TF backend)
        self.heatmap_loss_weight, self.size_loss_weight, self.offset_loss_weight = 1.0, 0.1, 1.0
        self._traced_image_sizes = {}  # step function name -> (height, width) it was traced for (TensorFlow)

    def call(self, inputs, training=None, mask=None, **kwargs):
        """The functional graph, after checking the images' static shape (see `check_images_shape`)."""
        check_images_shape(images_shape(inputs))
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def _prepare_step(self, x, function_name):
        """Checks the images of `x` before any tracing, and on TensorFlow drops the step function `function_name`
        ("train_function", "test_function", "predict_function") when the image size changed since it was traced.

        Keras traces step functions with `reduce_retracing`, so a second image size would retrace them with
        unknown height and width; the target encoder and the decoder need them static (fixed-size grids, top-k).
        """
        shape = images_shape(x)
        check_images_shape(shape)
        if shape is None or None in shape[1:3] or keras.backend.backend() != "tensorflow":
            return
        if self._traced_image_sizes.get(function_name, shape[1:3]) != shape[1:3]:
            setattr(self, function_name, None)
        self._traced_image_sizes[function_name] = shape[1:3]

    def fit(self, x=None, y=None, *args, **kwargs):
        """keras.Model.fit after `_prepare_step` (images checked up front; any fixed size per call)."""
        self._prepare_step(x, "train_function")
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """keras.Model.evaluate after `_prepare_step`."""
        self._prepare_step(x, "test_function")
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """keras.Model.predict after `_prepare_step`: any multiple-of-32 size, also after another one."""
        self._prepare_step(x, "predict_function")
        return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        self._prepare_step(x, "train_function")
        return super().train_on_batch(x, *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        self._prepare_step(x, "test_function")
        return super().test_on_batch(x, *args, **kwargs)

    def predict_on_batch(self, x):
        self._prepare_step(x, "predict_function")
        return super().predict_on_batch(x)

    def compile(
        self,
        optimizer="adam",
        heatmap_loss_weight=1.0,
        size_loss_weight=0.1,
        offset_loss_weight=1.0,
        **kwargs,
    ):
        """Like keras.Model.compile, with the three CenterNet loss weights instead of `loss`."""
        if kwargs.get("loss") is not None:
            raise ValueError("CenterNet computes its own losses; pass loss weights instead of `loss`.")
        kwargs.pop("loss", None)
        super().compile(optimizer=optimizer, **kwargs)
        self.heatmap_loss_weight = float(heatmap_loss_weight)
        self.size_loss_weight = float(size_loss_weight)
        self.offset_loss_weight = float(offset_loss_weight)

    def get_compile_config(self):
        """keras.Model's compile config plus the three loss weights, so a loaded .keras file compiles the same."""
        config = super().get_compile_config()
        if config:
            config.update(
                heatmap_loss_weight=self.heatmap_loss_weight,
                size_loss_weight=self.size_loss_weight,
                offset_loss_weight=self.offset_loss_weight,
            )
        return config

    def compile_from_config(self, config):
        """Restores `compile` (optimizer state and loss weights) when a .keras file is loaded."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def encode_targets(self, y, output_shape):
        """{"boxes" in `bounding_box_format`, "labels"} -> encoder targets for an output grid `output_shape` = (h, w)
        (boxes converted to xyxy input pixels of (h, w) x stride)."""
        if output_shape[0] is None or output_shape[1] is None:
            raise ValueError(
                "CenterNet training needs a static image size: batch images to a fixed height and width "
                "(build_dataset does this)."
            )
        image_shape = (output_shape[0] * self.stride, output_shape[1] * self.stride)
        boxes = convert_boxes(y["boxes"], self.bounding_box_format, "xyxy", image_shape)
        return self.encoder(boxes, y["labels"], image_shape=image_shape)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Weighted sum of the focal heatmap loss and the masked L1 size and offset losses.

        `y` is {"boxes": [batch, max_boxes, 4], "labels": [batch, max_boxes]}; `sample_weight` is not supported.
        Also updates the heatmap_loss, size_loss and offset_loss trackers that `fit` logs.
        """
        if sample_weight is not None:
            raise ValueError("CenterNet does not support sample_weight; drop boxes by padding them with -1.")
        targets = self.encode_targets(y, y_pred["heatmap"].shape[1:3])
        heatmap_loss = self.heatmap_loss(
            targets["heatmap"], y_pred["heatmap"], **self._heatmap_loss_inputs(y, targets, y_pred["heatmap"].shape[1:3])
        )
        size_loss = self.regression_loss(
            targets["size"], _gather_at(y_pred["size"], targets["indices"]), sample_weight=targets["mask"]
        )
        offset_loss = self.regression_loss(
            targets["offset"], _gather_at(y_pred["offset"], targets["indices"]), sample_weight=targets["mask"]
        )
        total = (
            self.heatmap_loss_weight * heatmap_loss
            + self.size_loss_weight * size_loss
            + self.offset_loss_weight * offset_loss
        )
        for extra in self.losses:  # regularizers, add_loss
            extra = extra if keras.backend.is_float_dtype(extra.dtype) else ops.cast(extra, keras.config.floatx())
            total = total + ops.sum(extra)  # as keras.Model.compute_loss aggregates them
        self.heatmap_loss_tracker.update_state(_unscale_for_logging(heatmap_loss))
        self.size_loss_tracker.update_state(_unscale_for_logging(size_loss))
        self.offset_loss_tracker.update_state(_unscale_for_logging(offset_loss))
        return total

    def _heatmap_loss_inputs(self, y, targets, output_shape):
        """The focal loss's keywords: boxes per image with heatmap_normalization="boxes", cell weights from
        y["image_box"] with mask_padding (see `real_image_cells`)."""
        inputs = {}
        if self.heatmap_normalization == "boxes":
            inputs["num_boxes"] = ops.sum(targets["mask"], axis=1)
        if self.mask_padding and "image_box" in y:
            image_shape = (output_shape[0] * self.stride, output_shape[1] * self.stride)
            image_box = convert_boxes(y["image_box"], self.bounding_box_format, "xyxy", image_shape)
            inputs["sample_weight"] = real_image_cells(image_box, output_shape, self.stride)
        return inputs

    def train_step(self, *args):
        """TensorFlow: tape, loss scaling, pluggable gradient reduction, apply. Other backends: Keras's own step
        (JAX calls it as train_step(state, data))."""
        if keras.backend.backend() != "tensorflow":
            return super().train_step(*args)
        import tensorflow as tf

        (data,) = args
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=True)
            # the "loss" metric fit logs: Keras's own step updates this private tracker; no public handle exists
            self._loss_tracker.update_state(_unscale_for_logging(loss), sample_weight=tf.shape(x)[0])
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        if self.gradient_reducer is not None:
            gradients = self.gradient_reducer(gradients)
        self.optimizer.apply(gradients, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def decode(self, outputs, mirrored_outputs=None):
        """Raw head outputs -> detections dict, boxes in `bounding_box_format`; with the outputs of the mirrored
        images, flip-test averaging (mean of the sigmoid heatmaps and of the sizes, offsets from the original
        image, as the paper)."""
        if mirrored_outputs is None:
            return self._detections_in_format(self.decoder(outputs), outputs["heatmap"].shape[1:3])
        heatmap = ops.sigmoid(outputs["heatmap"]) + ops.flip(ops.sigmoid(mirrored_outputs["heatmap"]), axis=2)
        size = outputs["size"] + ops.flip(mirrored_outputs["size"], axis=2)
        averaged = {"heatmap": heatmap / 2.0, "size": size / 2.0, "offset": outputs["offset"]}
        return self._detections_in_format(self.decoder(averaged, from_logits=False), outputs["heatmap"].shape[1:3])

    def _detections_in_format(self, detections, output_shape):
        """The decoder's detections (boxes xyxy input pixels) with boxes in `bounding_box_format`; padded rows
        (label -1) keep boxes -1."""
        if self.bounding_box_format == "xyxy":
            return detections
        image_shape = (output_shape[0] * self.stride, output_shape[1] * self.stride)
        boxes = convert_boxes(detections["boxes"], "xyxy", self.bounding_box_format, image_shape)
        kept = ops.expand_dims(detections["labels"] >= 0, -1)
        return {**detections, "boxes": ops.where(kept, boxes, -1.0)}

    def boxes_to_xyxy(self, boxes, image_shape):
        """Boxes [..., 4] in `bounding_box_format` (e.g. `predict`'s) -> xyxy input pixels for images of
        `image_shape` (height, width); float32, the backend's tensors."""
        return convert_boxes(boxes, self.bounding_box_format, "xyxy", image_shape)

    def predict_step(self, *args):
        """Forward pass (and its mirror with `flip_test`) then decoding. JAX calls it as predict_step(state, data)
        and expects (outputs, non_trainable_variables) back."""
        if keras.backend.backend() == "jax":
            (trainable, non_trainable), data = args
            x = keras.utils.unpack_x_y_sample_weight(data)[0]
            outputs, non_trainable = self.stateless_call(trainable, non_trainable, x, training=False)
            mirrored = None
            if self.flip_test:
                mirrored, _ = self.stateless_call(trainable, non_trainable, ops.flip(x, axis=2), training=False)
            return self.decode(outputs, mirrored), non_trainable
        (data,) = args
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        mirrored = self(ops.flip(x, axis=2), training=False) if self.flip_test else None
        return self.decode(self(x, training=False), mirrored)

    def get_config(self):
        backbone = self.backbone_name
        if backbone is None:
            backbone = keras.saving.serialize_keras_object(self.backbone_model)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_classes": self.num_classes,
            "backbone": backbone,
            "neck": self.neck_name,
            "head_channels": self.head_channels,
            "max_detections": self.decoder.max_detections,
            "score_threshold": self.decoder.score_threshold,
            "flip_test": self.flip_test,
            "radius_variant": self.encoder.radius_variant,
            "min_overlap": self.encoder.min_overlap,
            "class_ids": list(self.class_ids),
            "class_names": list(self.class_names),
            "image_size": self.image_size,
            "bounding_box_format": self.bounding_box_format,
            "box_loss_normalization": self.regression_loss.normalization,
            "heatmap_gaussian": self.heatmap_gaussian,
            "heatmap_normalization": self.heatmap_normalization,
            "mask_padding": self.mask_padding,
        }

    @property
    def preprocessor(self):
        """The model's `preprocessing.Letterbox`: its input size (512 when unknown) and class map."""
        from keras_centernet.preprocessing import Letterbox

        return Letterbox.for_model(self)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
