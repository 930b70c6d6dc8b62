"""Inference on images of any size: letterbox -> `model.predict` -> boxes in original pixels with class names.

Numpy and PIL only (no TensorFlow), so a `Detector` runs on any Keras backend. The letterbox is the one the
evaluation pipeline uses (`data/augment.py`): resize by `scale = image_size / max(height, width)` keeping the
aspect ratio, place at the top-left, pad bottom/right with zeros; a box in original pixels is the box in
input pixels divided by `scale`. `letterbox_image` reproduces that TensorFlow letterbox in numpy exactly
(tests/test_inference.py checks it against `data.augment.letterbox`).
"""

import os
import pathlib

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def letterbox_scale(height, width, image_size):
    """Scale that fits a height x width image into image_size x image_size keeping its aspect ratio:
    `image_size / max(height, width)`, computed in float32 like the tf.data pipeline's."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    return float(np.float32(image_size) / np.float32(max(height, width)))


def _sample_grid(out_size, in_size, scale):
    """Bilinear sample positions of `augment.resample` along one axis (float32, as tf.image.crop_and_resize).

    Output pixel i samples the input at `(i + 0.5) / scale - 0.5`; samples outside [0, in_size - 1] are
    padding. Returns (valid bool [out], low int [out], high int [out], fraction float32 [out]).
    """
    f32 = np.float32
    scale = f32(scale)
    start = f32(0.5) / scale - f32(0.5)
    end = start + (f32(out_size) - f32(1)) / scale
    extent = f32(max(in_size - 1, 1))
    first, last = start / extent, end / extent
    step = (last - first) * f32(in_size - 1) / f32(max(out_size - 1, 1))
    positions = first * f32(in_size - 1) + np.arange(out_size, dtype=f32) * step
    valid = (positions >= 0) & (positions <= f32(in_size - 1))
    low = np.floor(positions)
    fraction = (positions - low).astype(f32)
    low = low.astype(np.int64).clip(0, in_size - 1)
    high = np.ceil(positions).astype(np.int64).clip(0, in_size - 1)
    return valid, low, high, fraction


def boxes_to_original(boxes, scale, height=None, width=None):
    """Boxes [..., 4] xyxy in letterboxed input pixels -> original pixels (divide by scale), clipped to the
    original image when its height and width are given."""
    boxes = np.asarray(boxes, np.float64) / float(scale)
    if height is not None and width is not None:
        boxes = np.clip(boxes, 0.0, np.array([width, height, width, height], np.float64))
    return boxes


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


def letterbox_image(image, image_size):
    """uint8 [height, width, 3] -> (float32 [image_size, image_size, 3] in 0..255, scale).

    The numpy twin of `data.augment.letterbox` (same bilinear pixel-centre sampling, float32, zero
    padding at the bottom/right), so `detect` sees exactly the pixels `evaluate` sees.
    """
    height, width = image.shape[:2]
    scale = letterbox_scale(height, width, image_size)
    valid_y, low_y, high_y, frac_y = _sample_grid(image_size, height, scale)
    valid_x, low_x, high_x, frac_x = _sample_grid(image_size, width, scale)
    pixels = np.asarray(image, np.float32)
    rows_low, rows_high = pixels[low_y], pixels[high_y]
    frac_x = frac_x[None, :, None]
    top = rows_low[:, low_x] + (rows_low[:, high_x] - rows_low[:, low_x]) * frac_x
    bottom = rows_high[:, low_x] + (rows_high[:, high_x] - rows_high[:, low_x]) * frac_x
    canvas = top + (bottom - top) * frac_y[:, None, None]
    canvas *= (valid_y[:, None] & valid_x[None, :])[..., None]
    return canvas.astype(np.float32), scale


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
      image_size: side of the square model input (multiple of 32).
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
        self, model, image_size=512, score_threshold=0.3, batch_size=8, class_names=None, flip_test=None
    ):
        from keras_centernet.validation import check_image_size, check_positive

        self.image_size = check_image_size(image_size, "image_size")  # before a (slow) model load
        self.batch_size = check_positive(batch_size, "batch_size")
        if isinstance(model, (str, os.PathLike)):
            model = load_model(model)
        self.model = model
        self.score_threshold = float(score_threshold)
        num_classes = getattr(model, "num_classes", None)
        self.class_ids = list(getattr(model, "class_ids", None) or range(1, (num_classes or 0) + 1))
        names = class_names if class_names is not None else getattr(model, "class_names", None)
        self.class_names = [str(n) for n in names] if names is not None else [str(i) for i in self.class_ids]
        if flip_test is not None:
            set_flip_test(model, flip_test)

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

    def _detect_batch(self, images):
        inputs = np.zeros((self.batch_size, self.image_size, self.image_size, 3), np.float32)
        scales = []
        for i, image in enumerate(images):
            inputs[i], scale = letterbox_image(image, self.image_size)
            scales.append(scale)
        outputs = self.model.predict_on_batch(inputs)
        outputs = {key: np.asarray(value) for key, value in outputs.items()}
        results = []
        for i, image in enumerate(images):
            height, width = image.shape[:2]
            count = int(outputs["num_detections"][i])
            scores = outputs["scores"][i, :count].astype(np.float32)
            labels = outputs["labels"][i, :count].astype(np.int64)
            keep = (scores >= self.score_threshold) & (labels >= 0)
            boxes = boxes_to_original(outputs["boxes"][i, :count][keep], scales[i], height, width)
            labels = labels[keep]
            results.append(
                {
                    "boxes": boxes.astype(np.float32),
                    "scores": scores[keep],
                    "labels": labels,
                    "class_ids": np.asarray([self.class_ids[k] for k in labels], np.int64),
                    "class_names": [self.class_names[k] for k in labels],
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
