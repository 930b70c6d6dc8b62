"""CenterNet prediction heads: features [B, h, w, c] -> [B, h, w, num_outputs] float32."""

from __future__ import annotations

import keras
from keras import layers

# The reference code's value (Zhou et al.): -log((1 - 0.1) / 0.1) = -2.1972 rounded, sigmoid = 0.1007 (prior ~0.1).
# Models have always started from it; the exact -2.1972 would change every from-scratch training run.
HEATMAP_BIAS = -2.19


@keras.saving.register_keras_serializable(package="keras_centernet")
class CenterNetHead(layers.Layer):
    """3x3 conv (``head_channels``, bias) -> ReLU -> 1x1 conv (``num_outputs``).

    The final 1x1 conv always computes in float32 (its input is cast), so the output is float32 under
    ``mixed_float16`` / ``mixed_bfloat16``; the 3x3 conv follows the layer's dtype policy. Its bias starts
    at ``bias_initializer_value``: :data:`HEATMAP_BIAS` (-2.19, sigmoid 0.1) for the heatmap head, 0 for
    size and offset.

    Call: [B, h, w, c] -> [B, h, w, num_outputs] float32.
    """

    def __init__(self, num_outputs, head_channels=64, bias_initializer_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(num_outputs) < 1:
            raise ValueError(f"CenterNetHead: num_outputs must be >= 1, got {num_outputs}")
        if int(head_channels) < 1:
            raise ValueError(f"CenterNetHead: head_channels must be >= 1, got {head_channels}")
        self.num_outputs = int(num_outputs)
        self.head_channels = int(head_channels)
        self.bias_initializer_value = float(bias_initializer_value)
        self.conv = layers.Conv2D(
            self.head_channels, 3, padding="same", activation="relu", name="conv", dtype=self.dtype_policy
        )
        self.output_conv = layers.Conv2D(
            self.num_outputs,
            1,
            bias_initializer=keras.initializers.Constant(self.bias_initializer_value),
            name="output_conv",
            dtype="float32",
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.conv.build(input_shape)
        self.output_conv.build(self.conv.compute_output_shape(input_shape))

    def call(self, features):
        x = self.conv(features)
        return self.output_conv(keras.ops.cast(x, "float32"))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_outputs,)

    def compute_output_spec(self, features):
        return keras.KerasTensor(self.compute_output_shape(features.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_outputs": self.num_outputs,
                "head_channels": self.head_channels,
                "bias_initializer_value": self.bias_initializer_value,
            }
        )
        return config
