"""CenterNet layers: heads, the on-device target encoder and the decoder."""

from keras_centernet.layers.decoder import CenterNetDecoder
from keras_centernet.layers.heads import CenterNetHead
from keras_centernet.layers.target_encoder import CenterNetLabelEncoder

__all__ = ["CenterNetDecoder", "CenterNetHead", "CenterNetLabelEncoder"]
