"""The saved model a command was given: a CenterNet, or one InputError line naming the flag."""


def load_centernet(path, argument="--weights"):
    """`keras_centernet.inference.load_model(path)` (its InputErrors name the path), checked to be a CenterNet. The
    Keras classes a saved model may hold (the LR schedule included) are registered by every command's quiet start."""
    from keras_centernet.inference import load_model
    from keras_centernet.models.centernet import CenterNet
    from keras_centernet.validation import InputError

    model = load_model(path)  # InputError "PATH: no such file" / "PATH is not a valid .keras model file (...)"
    if not isinstance(model, CenterNet):
        raise InputError(
            f"{argument} {path}: holds a {type(model).__name__}, not a CenterNet (save one with keras-centernet "
            "train or CenterNet.save)"
        )
    return model
