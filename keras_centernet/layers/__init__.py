"""CenterNet layers: heads, the on-device target encoder, the decoder and the deformable convolution (DCNv2)."""

from keras_centernet.layers.decoder import CenterNetDecoder
from keras_centernet.layers.deformable import DeformableConv2D
from keras_centernet.layers.heads import CenterNetHead
from keras_centernet.layers.target_encoder import CenterNetLabelEncoder

__all__ = ["CenterNetDecoder", "CenterNetHead", "CenterNetLabelEncoder", "DeformableConv2D"]
