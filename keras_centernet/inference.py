"""Inference on images of any size: letterbox -> `model.predict` -> boxes in original pixels with class names.

Numpy and PIL only (no TensorFlow), so a `Detector` runs on any Keras backend. The letterbox, its inverse and the
class map are the model's `preprocessing.Letterbox`, the same object the evaluation pipeline and the exported
SavedModel use, so `detect` sees exactly the pixels `evaluate` sees.
"""

import os
import pathlib

import numpy as np

from keras_centernet.preprocessing import DEFAULT_IMAGE_SIZE, Letterbox

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _pil_to_rgb(opened):
    """A PIL image -> uint8 RGB [height, width, 3] at its real brightness.

    16/32-bit integer images ("I;16*", "I": 16-bit PNGs and TIFFs) are scaled from 0..65535 to 0..255 (not
    clipped at 255); palette images take their palette colours; alpha channels are dropped.
    """
    if opened.mode.startswith("I"):
        pixels = np.asarray(opened).astype(np.float64) * (255.0 / 65535.0)
        gray = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    return np.asarray(opened.convert("RGB"))


def load_image(image):
    """A path or an array -> uint8 RGB [height, width, 3] (gray, gray+alpha, RGBA, palette and 16-bit become RGB).

    A file that cannot be decoded raises ValueError("cannot read image PATH: reason").
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as opened:
                return _pil_to_rgb(opened)
        except (OSError, ValueError, SyntaxError) as error:  # PIL raises SyntaxError for some broken headers
            raise ValueError(f"cannot read image {image}: {error}") from error
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"image must be [height, width] or [height, width, 1-4], got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    if array.shape[-1] in (1, 2):  # gray (+ alpha)
        array = np.repeat(array[..., :1], 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def list_images(inputs):
    """Image files of `inputs` (files and folders; folders non-recursive, sorted), with a clear error."""
    files = []
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"image or folder not found: {path}")
    return files


def set_flip_test(model, enabled):
    """Turn the model's flip test-time augmentation on or off (rebuilds its predict function)."""
    if not hasattr(model, "flip_test"):
        raise ValueError(f"{type(model).__name__} has no flip_test option")
    if bool(model.flip_test) != bool(enabled):
        model.flip_test = bool(enabled)
        model.predict_function = None


def load_model(path):
    """Load a saved CenterNet (`.keras`) with the package's layers registered.

    Raises InputError "PATH: no such file" when it is missing and "PATH is not a valid .keras model file
    (reason)" when it is not a Keras zip archive (a renamed text file, a truncated download) or cannot be rebuilt.
    """
    import zipfile

    import keras

    import keras_centernet.models.centernet  # noqa: F401 - registers CenterNet for deserialization
    from keras_centernet.validation import InputError

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix != ".keras":
        raise InputError(f"{path}: expected a .keras model saved with model.save(...)")
    problem = None if zipfile.is_zipfile(path) else "not a zip archive"
    if problem is None:
        try:
            with zipfile.ZipFile(path) as archive:
                bad_member = archive.testzip()
            problem = f"corrupt member {bad_member}" if bad_member else None
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            problem = str(error)
    if problem is None:
        try:
            return keras.saving.load_model(path)
        except (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
            problem = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    raise InputError(f"{path} is not a valid .keras model file ({problem})")


class Detector:
    """Detect objects in images of any size with a CenterNet.

    Args:
      model: a CenterNet (or a path to a saved `.keras` one); its `predict` returns decoded detections.
      image_size: side of the square model input (multiple of 32); default the model's own `image_size`, else 512.
      score_threshold: detections below it are dropped.
      batch_size: images per `predict` call (the last batch is padded so every call has the same shape).
      class_names: names of the contiguous classes (default: the model's `class_names`).
      flip_test: None keeps the model's setting; True/False turns flip test-time augmentation on/off.

    `detector(images)` takes one image or a list (uint8 [height, width, 3|4|1] arrays, [height, width]
    arrays or file paths) and returns one dict per image: "boxes" float [n, 4] xyxy original pixels,
    "scores" [n], "labels" int [n] contiguous, "class_ids" int [n] dataset ids, "class_names" list of n
    str, "height", "width".
    """

    def __init__(
        self, model, image_size=None, score_threshold=0.3, batch_size=8, class_names=None, flip_test=None
    ):
        from keras_centernet.validation import check_image_size, check_positive

        if image_size is not None:
            image_size = check_image_size(image_size, "image_size")  # before a (slow) model load
        self.batch_size = check_positive(batch_size, "batch_size")
        if isinstance(model, (str, os.PathLike)):
            model = load_model(model)
        self.model = model
        self.score_threshold = float(score_threshold)
        num_classes = getattr(model, "num_classes", None)
        class_ids = list(getattr(model, "class_ids", None) or range(1, (num_classes or 0) + 1))
        names = class_names if class_names is not None else getattr(model, "class_names", None)
        image_size = image_size or getattr(model, "image_size", None) or DEFAULT_IMAGE_SIZE
        self.preprocessor = Letterbox(image_size, class_ids, names)
        if flip_test is not None:
            set_flip_test(model, flip_test)

    @property
    def image_size(self):
        return self.preprocessor.image_size

    @property
    def class_ids(self):
        return self.preprocessor.class_ids

    @property
    def class_names(self):
        return self.preprocessor.class_names

    def __call__(self, images):
        single = not isinstance(images, (list, tuple))
        results = self.detect(images if not single else [images])
        return results[0] if single else results

    def detect(self, images):
        """List of images (arrays or paths) -> list of detection dicts (see the class docstring)."""
        results = []
        for start in range(0, len(images), self.batch_size):
            batch = [load_image(image) for image in images[start : start + self.batch_size]]
            results.extend(self._detect_batch(batch))
        return results

    def _predict_xyxy(self, inputs):
        """The model's detections for `inputs` [batch, size, size, 3] as numpy, boxes xyxy input pixels whatever
        the model's `bounding_box_format`."""
        outputs = {key: np.asarray(value) for key, value in self.model.predict_on_batch(inputs).items()}
        if getattr(self.model, "bounding_box_format", "xyxy") != "xyxy":
            import keras

            boxes = self.model.boxes_to_xyxy(outputs["boxes"], inputs.shape[1:3])
            outputs["boxes"] = np.asarray(keras.ops.convert_to_numpy(boxes))
        return outputs

    def _detect_batch(self, images):
        inputs = np.zeros((self.batch_size, self.image_size, self.image_size, 3), np.float32)
        scales = []
        for i, image in enumerate(images):
            inputs[i], scale = self.preprocessor.letterbox_image(image)
            scales.append(scale)
        outputs = self._predict_xyxy(inputs)
        results = []
        for i, image in enumerate(images):
            height, width = image.shape[:2]
            count = int(outputs["num_detections"][i])
            scores = outputs["scores"][i, :count].astype(np.float32)
            labels = outputs["labels"][i, :count].astype(np.int64)
            keep = (scores >= self.score_threshold) & (labels >= 0)
            boxes = self.preprocessor.boxes_to_original(outputs["boxes"][i, :count][keep], scales[i], height, width)
            labels = labels[keep]
            results.append(
                {
                    "boxes": boxes.astype(np.float32),
                    "scores": scores[keep],
                    "labels": labels,
                    "class_ids": self.preprocessor.class_ids_of(labels),
                    "class_names": self.preprocessor.class_names_of(labels),
                    "height": height,
                    "width": width,
                }
            )
        return results


def detections_to_json(result, file_name=None):
    """One `Detector` result -> a json-serializable dict (boxes rounded to 0.01 px, scores to 1e-4)."""
    entries = [
        {
            "box": [round(float(v), 2) for v in box],
            "score": round(float(score), 4),
            "label": int(label),
            "class_id": int(class_id),
            "class_name": name,
        }
        for box, score, label, class_id, name in zip(
            result["boxes"], result["scores"], result["labels"], result["class_ids"], result["class_names"]
        )
    ]
    record = {"height": int(result["height"]), "width": int(result["width"]), "detections": entries}
    if file_name is not None:
        record = {"file": str(file_name), **record}
    return record
