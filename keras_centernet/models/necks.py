"""Necks: backbone features [C2, C3, C4, C5] (strides 4..32) -> one stride-4 feature map.

- ``deconv`` (:class:`DeconvNeck`): the CenterNet paper's upsampling on C5: 3 x [(3x3 conv-BN-ReLU) ->
  4x4 stride-2 transposed conv -> BN -> ReLU] with 256, 128, 64 channels.
- ``dcn`` (:class:`DCNNeck`): the paper's ResDCN upsampling (xingyizhou/CenterNet ``resnet_dcn.py``): 3 x [3x3
  deformable conv v2 -> BN -> ReLU -> 4x4 stride-2 transposed conv initialised to bilinear upsampling -> BN -> ReLU]
  with 256, 128, 64 channels.
- ``fpn`` (:class:`FPNNeck`): the TF Object Detection API's CenterNet ``resnet_v1_fpn``: 1x1 lateral convs,
  nearest top-down upsampling + add, 3x3 conv-BN-ReLU after each merge, down to stride 4.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from keras_centernet.layers.deformable import DeformableConv2D
from keras_centernet.models.backbones import BN_EPSILON, BN_MOMENTUM

NECKS = ("deconv", "fpn", "dcn")
DECONV_KERNEL_SIZE = 4  # DCNNeck's transposed convs: the bilinear 2x upsampling filter is 4x4


def _batch_norm(name, dtype):
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name, dtype=dtype)


def _conv_before_bn(conv_class, filters, kernel_size, name, dtype, strides=1):
    """A same-padded, bias-free (BatchNorm follows), he_normal `conv_class` (Conv2D or Conv2DTranspose)."""
    return conv_class(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
        dtype=dtype,
    )


def _as_filters(filters, count, owner):
    if isinstance(filters, int):
        filters = (filters,) * count
    filters = tuple(int(f) for f in filters)
    if len(filters) != count or any(f <= 0 for f in filters):
        raise ValueError(f"{owner}: filters must be a positive int or {count} positive ints, got {filters}")
    return filters


def _features_list(features, owner):
    if not isinstance(features, list | tuple):
        raise ValueError(f"{owner}: expects the list of backbone features [C2, C3, C4, C5]")
    return list(features)


class _UpsamplingNeck(layers.Layer):
    """What the upsampling necks (deconv, dcn) share: one x2 stage per entry of `self.filters`."""

    @property
    def output_channels(self):
        return self.filters[-1]

    @property
    def output_stride_factor(self):
        """How much the neck upsamples its input."""
        return 2 ** len(self.filters)


@keras.saving.register_keras_serializable(package="keras_centernet")
class DeconvNeck(_UpsamplingNeck):
    """The paper's upsampling neck on the last feature map (C5, stride 32) -> stride 4.

    Per level ``i``: optional 3x3 conv(filters[i])-BN-ReLU (``conv_before_deconv``; the paper uses a
    deformable conv here for ResNet), then Conv2DTranspose(filters[i], kernel_size, stride 2, no bias),
    BN, ReLU.

    Call: list of features, of which only the last ([B, H/32, W/32, c5]) is used ->
    [B, H/4, W/4, filters[-1]] (with 3 levels).
    """

    def __init__(self, filters=(256, 128, 64), kernel_size=4, conv_before_deconv=True, **kwargs):
        super().__init__(**kwargs)
        count = 3 if isinstance(filters, int) else max(len(filters), 1)
        self.filters = _as_filters(filters, count, "DeconvNeck")
        if int(kernel_size) < 1:
            raise ValueError(f"DeconvNeck: kernel_size must be positive, got {kernel_size}")
        self.kernel_size = int(kernel_size)
        self.conv_before_deconv = bool(conv_before_deconv)
        self.convs, self.deconvs, self.norms = [], [], []
        for i, f in enumerate(self.filters):
            if self.conv_before_deconv:
                conv = _conv_before_bn(layers.Conv2D, f, 3, f"conv{i + 1}", self.dtype_policy)
                bn = _batch_norm(f"conv{i + 1}_bn", self.dtype_policy)
                self.convs.append((conv, bn))
            self.deconvs.append(
                _conv_before_bn(
                    layers.Conv2DTranspose, f, self.kernel_size, f"deconv{i + 1}", self.dtype_policy, strides=2
                )
            )
            self.norms.append(_batch_norm(f"deconv{i + 1}_bn", self.dtype_policy))

    def build(self, input_shape):
        shape = tuple(input_shape[-1])
        for i in range(len(self.filters)):
            if self.conv_before_deconv:
                conv, bn = self.convs[i]
                conv.build(shape)
                shape = conv.compute_output_shape(shape)
                bn.build(shape)
            self.deconvs[i].build(shape)
            shape = self.deconvs[i].compute_output_shape(shape)
            self.norms[i].build(shape)

    def call(self, features, training=None):
        x = _features_list(features, "DeconvNeck")[-1]
        for i in range(len(self.filters)):
            if self.conv_before_deconv:
                conv, bn = self.convs[i]
                x = keras.ops.relu(bn(conv(x), training=training))
            x = keras.ops.relu(self.norms[i](self.deconvs[i](x), training=training))
        return x

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape[-1]
        factor = self.output_stride_factor
        return (b, None if h is None else h * factor, None if w is None else w * factor, self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": list(self.filters),
                "kernel_size": self.kernel_size,
                "conv_before_deconv": self.conv_before_deconv,
            }
        )
        return config


def bilinear_upsampling_kernel(kernel_size, channels):
    """A Conv2DTranspose kernel [k, k, channels, channels] that upsamples each channel bilinearly, by f = ceil(k / 2).

    Per axis the taps are ``1 - |i / f - c|`` with ``c = (2f - 1 - f % 2) / (2f)`` (FCN's bilinear filter; for k = 4:
    0.25, 0.75, 0.75, 0.25), so with k = 4, stride 2 and 'same' padding output pixel ``o`` reads the input at
    ``(o + 0.5) / 2 - 0.5`` (half-pixel centres), each channel from itself only.
    """
    f = int(np.ceil(kernel_size / 2))
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    taps = 1.0 - np.abs(np.arange(kernel_size) / f - c)
    kernel = np.zeros((kernel_size, kernel_size, channels, channels), dtype="float32")
    kernel[:, :, np.arange(channels), np.arange(channels)] = np.outer(taps, taps)[:, :, None]
    return kernel


@keras.saving.register_keras_serializable(package="keras_centernet")
class DCNNeck(_UpsamplingNeck):
    """The paper's ResDCN upsampling neck on C5 (stride 32) -> stride 4 (xingyizhou/CenterNet ``resnet_dcn.py``).

    Per level ``i``: DeformableConv2D(filters[i], 3x3, no bias: BN follows)-BN-ReLU, then Conv2DTranspose(filters[i],
    4x4, stride 2, no bias) initialised to per-channel bilinear 2x upsampling (:func:`bilinear_upsampling_kernel`),
    BN, ReLU. xingyizhou's ``fill_up_weights`` (written for DLA's depthwise upsampling) writes the bilinear filter
    only into output channel 0 of this dense deconv, from every input channel, and leaves the other output channels
    at PyTorch's default init; we give every channel its own bilinear upsampling, which is what the filter is for.

    Call: list of features, of which only the last ([B, H/32, W/32, c5]) is used -> [B, H/4, W/4, filters[-1]].
    """

    def __init__(self, filters=(256, 128, 64), **kwargs):
        super().__init__(**kwargs)
        self.filters = _as_filters(filters, 3 if isinstance(filters, int) else max(len(filters), 1), "DCNNeck")
        self.levels = []
        for i, f in enumerate(self.filters):
            dcn = DeformableConv2D(
                f, 3, use_bias=False, kernel_initializer="he_normal", name=f"dcn{i + 1}", dtype=self.dtype_policy
            )
            deconv = _conv_before_bn(
                layers.Conv2DTranspose, f, DECONV_KERNEL_SIZE, f"deconv{i + 1}", self.dtype_policy, strides=2
            )
            dcn_bn = _batch_norm(f"dcn{i + 1}_bn", self.dtype_policy)
            self.levels.append((dcn, dcn_bn, deconv, _batch_norm(f"deconv{i + 1}_bn", self.dtype_policy)))

    def build(self, input_shape):
        shape = tuple(input_shape[-1])
        for dcn, dcn_bn, deconv, deconv_bn in self.levels:
            dcn.build(shape)
            shape = dcn.compute_output_shape(shape)
            dcn_bn.build(shape)
            deconv.build(shape)
            deconv.kernel.assign(bilinear_upsampling_kernel(DECONV_KERNEL_SIZE, shape[-1]))
            shape = deconv.compute_output_shape(shape)
            deconv_bn.build(shape)

    def call(self, features, training=None):
        x = _features_list(features, "DCNNeck")[-1]
        for dcn, dcn_bn, deconv, deconv_bn in self.levels:
            x = keras.ops.relu(dcn_bn(dcn(x), training=training))
            x = keras.ops.relu(deconv_bn(deconv(x), training=training))
        return x

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape[-1]
        factor = self.output_stride_factor
        return (b, None if h is None else h * factor, None if w is None else w * factor, self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": list(self.filters)})
        return config


@keras.saving.register_keras_serializable(package="keras_centernet")
class FPNNeck(layers.Layer):
    """Top-down FPN to stride 4, as the TF OD API's CenterNet ``resnet_v1_fpn``.

    ``top = Conv1x1(filters[0])(C5)``; for level i = 0, 1, 2 (C4, C3, C2):
    ``top = ReLU(BN(Conv3x3(next)(Upsample2x_nearest(top) + Conv1x1(filters[i])(C_{4-i}))))`` where ``next``
    is ``filters[i + 1]`` and ``filters[2]`` for the last level. With the default ``(256, 128, 64)`` the
    top-down maps have 256, 128, 64, 64 channels as in the OD API. An int gives the same width everywhere.

    Call: [C2, C3, C4, C5] with strides 4, 8, 16, 32 -> [B, H/4, W/4, filters[-1]].
    """

    def __init__(self, filters=(256, 128, 64), **kwargs):
        super().__init__(**kwargs)
        self.filters = _as_filters(filters, 3, "FPNNeck")
        self.top_lateral = layers.Conv2D(self.filters[0], 1, padding="same", name="lateral5", dtype=self.dtype_policy)
        self.laterals, self.smooths, self.norms = [], [], []
        for i, f in enumerate(self.filters):
            level = 4 - i
            out = self.filters[i + 1] if i + 1 < len(self.filters) else self.filters[-1]
            self.laterals.append(layers.Conv2D(f, 1, padding="same", name=f"lateral{level}", dtype=self.dtype_policy))
            self.smooths.append(_conv_before_bn(layers.Conv2D, out, 3, f"smooth{level}", self.dtype_policy))
            self.norms.append(_batch_norm(f"smooth{level}_bn", self.dtype_policy))
        self.upsample = layers.UpSampling2D(2, interpolation="nearest", name="upsample", dtype=self.dtype_policy)

    @property
    def output_channels(self):
        return self.filters[-1]

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"FPNNeck: expects 4 feature maps [C2, C3, C4, C5], got {len(input_shape)}")
        self.top_lateral.build(tuple(input_shape[3]))
        for i in range(len(self.filters)):
            level_shape = tuple(input_shape[2 - i])
            self.laterals[i].build(level_shape)
            merged = tuple(level_shape[:-1]) + (self.filters[i],)
            self.smooths[i].build(merged)
            self.norms[i].build(self.smooths[i].compute_output_shape(merged))

    def call(self, features, training=None):
        features = _features_list(features, "FPNNeck")
        if len(features) != 4:
            raise ValueError(f"FPNNeck: expects 4 feature maps [C2, C3, C4, C5], got {len(features)}")
        top = self.top_lateral(features[3])
        for i in range(len(self.filters)):
            top = self.upsample(top) + self.laterals[i](features[2 - i])
            top = keras.ops.relu(self.norms[i](self.smooths[i](top), training=training))
        return top

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape[0]
        return (b, h, w, self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": list(self.filters)})
        return config


def build_neck(name, /, **kwargs):
    """Builds a neck by name (:data:`NECKS`): ``"deconv"`` -> DeconvNeck, ``"fpn"`` -> FPNNeck, ``"dcn"`` -> DCNNeck.

    ``kwargs`` go to the constructor; the layer is named ``"<name>_neck"`` unless ``name=`` is given.
    """
    if name not in NECKS:
        raise ValueError(f"Unknown neck {name!r}; known necks: {', '.join(NECKS)}")
    kwargs.setdefault("name", f"{name}_neck")
    if name == "deconv":
        return DeconvNeck(**kwargs)
    if name == "dcn":
        return DCNNeck(**kwargs)
    return FPNNeck(**kwargs)
