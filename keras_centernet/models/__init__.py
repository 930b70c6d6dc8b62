"""CenterNet model, backbones and necks."""

from keras_centernet.models.backbones import BACKBONES, backbone_from_model, build_backbone
from keras_centernet.models.centernet import CenterNet
from keras_centernet.models.necks import DeconvNeck, FPNNeck, build_neck

__all__ = ["BACKBONES", "CenterNet", "DeconvNeck", "FPNNeck", "backbone_from_model", "build_backbone", "build_neck"]
