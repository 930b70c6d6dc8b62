"""keras-centernet: CenterNet object detection in pure Keras 3."""

__version__ = "0.1.0"
