"""keras_centernet.commands."""
