"""keras_centernet.callbacks."""
