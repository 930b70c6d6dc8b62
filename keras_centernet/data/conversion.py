"""Annotated images -> sharded TFRecords, shared by the COCO and Pascal VOC converters.

A format module (``coco.py``, ``voc.py``) turns its annotations into ``ImageEntry`` objects (boxes in pixels,
original category ids) and calls ``write_records``, which checks the input, clips boxes to the image, writes
the shards in parallel worker processes with a progress bar, and returns a ``ConversionSummary``.

A split is written all or nothing: its shards go to a staging folder beside them
(``DIR/tfrecords/.{prefix}_{split}.tmp-{pid}/``) and replace the split's earlier shards only when every image
was read and written; the label map is written (atomically) after that. A failed conversion leaves the earlier
shards and label map as they were; the worker processes of a killed one end with it, and its staging folder
is removed by the next run.
"""

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import glob
import io
import math
import multiprocessing
import multiprocessing.connection
import os
import queue
import shutil
import signal
import sys
import threading

from keras_centernet.atomic_files import _pid_alive, atomic_path
from keras_centernet.data import layout

# Formats TensorFlow's image decoders read; other files (TIFF, BMP, WebP, ...) are re-encoded as PNG.
_STORED_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}  # MPO: camera JPEGs with a second picture
_MAX_NAMED = 10
# A worker process imports TensorFlow (5-20 s) while one process writes ~1,600 images/s from a warm disk cache
# (2 cores): parallel workers pay off only for large datasets such as COCO train.
_MIN_IMAGES_PER_POOL = 20000
_STAGING_MARK = ".tmp-"


class ConversionError(ValueError):
    """Invalid input (missing image, unknown category, unreadable image) without ``skip_invalid``."""


@dataclasses.dataclass
class ImageEntry:
    """One image and its objects, boxes in pixels of the image file.

    ``width`` / ``height`` are the annotated size (None: take it from the file); ``boxes`` are
    ``(xmin, ymin, xmax, ymax)`` pixels; ``labels`` original category ids; ``area`` None entries mean the
    (clipped) box area.
    """

    path: str
    source_id: str
    filename: str
    width: int | None = None
    height: int | None = None
    boxes: list = dataclasses.field(default_factory=list)
    labels: list = dataclasses.field(default_factory=list)
    texts: list = dataclasses.field(default_factory=list)
    is_crowd: list = dataclasses.field(default_factory=list)
    area: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ConversionSummary:
    """Counts of one conversion; ``skipped`` names what ``skip_invalid`` left out."""

    images: int = 0
    images_without_boxes: int = 0
    boxes: int = 0
    crowd_boxes: int = 0
    clipped_boxes: int = 0
    dropped_boxes: int = 0
    reencoded_images: int = 0
    skipped_images: int = 0
    skipped_annotations: int = 0
    shards: int = 0
    skipped: list = dataclasses.field(default_factory=list)

    def merge(self, other):
        for field in dataclasses.fields(self):
            if field.name == "shards":
                continue
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self

    def format(self):
        lines = [
            f"images written       {self.images} ({self.images_without_boxes} without boxes, "
            f"{self.reencoded_images} re-encoded as PNG) in {self.shards} shards",
            f"boxes written        {self.boxes} ({self.crowd_boxes} crowd)",
            f"boxes clipped        {self.clipped_boxes} (to the image)",
            f"boxes dropped        {self.dropped_boxes} (zero area after clipping)",
            f"images skipped       {self.skipped_images}",
            f"annotations skipped  {self.skipped_annotations}",
        ]
        lines += [f"  skipped: {message}" for message in self.skipped[:_MAX_NAMED]]
        if len(self.skipped) > _MAX_NAMED:
            lines.append(f"  ... and {len(self.skipped) - _MAX_NAMED} more")
        return "\n".join(lines)


def _raise_invalid(problems, what):
    shown = "\n  ".join(problems[:_MAX_NAMED])
    more = f"\n  ... and {len(problems) - _MAX_NAMED} more" if len(problems) > _MAX_NAMED else ""
    raise ConversionError(
        f"{len(problems)} {what}:\n  {shown}{more}\nFix the input or pass --skip_invalid (skip_invalid=True) "
        "to leave them out and report them."
    )


def _clip_box(box, width, height):
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    clipped = (min(max(xmin, 0.0), width), min(max(ymin, 0.0), height), min(max(xmax, 0.0), width),
               min(max(ymax, 0.0), height))
    return clipped, clipped != (xmin, ymin, xmax, ymax)


def box_problem(box):
    """Why a ``(xmin, ymin, xmax, ymax)`` pixel box is invalid, or None.

    Invalid: not 4 numbers, a NaN or infinite coordinate, or a negative width / height (xmax < xmin or
    ymax < ymin). A valid box may still lie outside the image: clipping drops it later as zero-area.
    """
    try:
        values = [float(value) for value in box]
    except (TypeError, ValueError):
        return "coordinates are not numbers"
    if len(values) != 4:
        return f"{len(values)} coordinates instead of 4"
    if not all(math.isfinite(value) for value in values):
        return "non-finite (NaN or infinite) coordinates"
    if values[2] < values[0] or values[3] < values[1]:
        return "negative width or height"
    return None


@contextlib.contextmanager
def _strict_pil():
    """PIL with ``ImageFile.LOAD_TRUNCATED_IMAGES`` off (a truncated file raises), restored afterwards."""
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _read_image(entry):
    """(bytes, format, width, height, re-encoded) of an entry's file; raises ConversionError if unreadable.

    The image is fully decoded (not just its header), so truncated or corrupt files are caught here and not
    in the middle of training.
    """
    from PIL import Image

    with open(entry.path, "rb") as file:
        data = file.read()
    try:
        with _strict_pil(), Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.load()
            image_format = _STORED_FORMATS.get(image.format)
            if image_format is None:
                converted = image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode)
                buffer = io.BytesIO()
                converted.save(buffer, format="PNG")
                return buffer.getvalue(), "png", width, height, True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ConversionError(f"{entry.path}: not a readable image ({error})") from None
    return data, image_format, width, height, False


def _encode_entry(entry, summary, skip_invalid):
    """Serialized tf.Example of an entry (None when skipped); updates ``summary``."""
    from keras_centernet.data import tfrecord

    try:
        data, image_format, width, height, reencoded = _read_image(entry)
        if entry.width not in (None, 0, width) or entry.height not in (None, 0, height):
            raise ConversionError(
                f"{entry.path}: annotated size {entry.width}x{entry.height} but the file is {width}x{height}"
            )
    except (ConversionError, OSError) as error:
        if not skip_invalid:
            raise ConversionError(str(error)) from None
        summary.skipped_images += 1
        summary.skipped.append(str(error))
        return None
    boxes, labels, texts, is_crowd, area = [], [], [], [], []
    for index, box in enumerate(entry.boxes):
        (xmin, ymin, xmax, ymax), clipped = _clip_box(box, width, height)
        if xmax - xmin <= 0 or ymax - ymin <= 0:
            summary.dropped_boxes += 1
            continue
        summary.clipped_boxes += int(clipped)
        boxes.append((xmin / width, ymin / height, xmax / width, ymax / height))
        labels.append(entry.labels[index])
        texts.append(entry.texts[index] if entry.texts else "")
        crowd = int(entry.is_crowd[index]) if entry.is_crowd else 0
        is_crowd.append(crowd)
        given_area = entry.area[index] if entry.area else None
        area.append((xmax - xmin) * (ymax - ymin) if given_area is None else float(given_area))
        summary.crowd_boxes += crowd
    summary.images += 1
    summary.boxes += len(boxes)
    summary.images_without_boxes += int(not boxes)
    summary.reencoded_images += int(reencoded)
    return tfrecord.encode_example(
        data,
        image_format=image_format,
        height=height,
        width=width,
        source_id=entry.source_id,
        filename=entry.filename,
        boxes=boxes,
        labels=labels,
        texts=texts,
        is_crowd=is_crowd,
        area=area,
    )


_progress_queue = None
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent(parent_pid):
    """Make this worker process end as soon as ``parent_pid`` (the process that started its pool) dies, even by
    ``kill -9``: otherwise it finishes its shard and then waits for work forever, holding TensorFlow's memory.

    Linux: the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``; the pool starts its
    workers from the calling thread, which outlives the pool). A parent that died before that call is caught by
    ``os.getppid()`` (the orphan's parent is no longer ``parent_pid``). Elsewhere, or if prctl fails, a daemon
    thread waits on the parent's sentinel (a pipe the parent holds open; readable at its death) and exits.
    Nothing is lost by ending at once: the worker writes only into the staging folder, which the next run removes.
    """
    watched = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            watched = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    parent = multiprocessing.parent_process()
    if not watched and parent is not None and parent.sentinel is not None:

        def exit_at_parents_death():
            multiprocessing.connection.wait([parent.sentinel])
            os._exit(1)

        threading.Thread(target=exit_at_parents_death, name="exit-with-parent", daemon=True).start()


def _init_worker(progress_queue, parent_pid):
    global _progress_queue
    _end_with_parent(parent_pid)
    _progress_queue = progress_queue
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _write_shard(task, report=None):
    """Write one shard file from its entries; returns the shard's ConversionSummary."""
    import tensorflow as tf

    path, entries, skip_invalid = task
    summary = ConversionSummary()
    pending = 0
    with tf.io.TFRecordWriter(path) as writer:
        for entry in entries:
            serialized = _encode_entry(entry, summary, skip_invalid)
            if serialized is not None:
                writer.write(serialized)
            pending += 1
            if report is not None:
                report(1)
            elif _progress_queue is not None and pending >= 8:
                _progress_queue.put(pending)
                pending = 0
    if _progress_queue is not None and pending:
        _progress_queue.put(pending)
    return summary


def _check_label_map(path, categories):
    """The ``{id: name}`` to write at ``path``, or None when the same label map is already there.

    Raises ConversionError (before any work) when ``path`` lists other classes: every split of a dataset
    folder needs the same label map.
    """
    from keras_centernet.data.label_map import read_label_map

    new = {int(k): str(v) for k, v in categories.items()} if isinstance(categories, dict) else {
        int(c["id"]): str(c["name"]) for c in categories}
    new = dict(sorted(new.items()))
    if not os.path.isfile(path):
        return new
    try:
        existing = read_label_map(path)
    except ValueError:
        return new  # not a label map: replaced
    if existing != new:
        raise ConversionError(
            f"{path} already lists other classes ({len(existing)}: {list(existing.items())[:5]} ...) than this "
            f"conversion ({len(new)}: {list(new.items())[:5]} ...): every split of a dataset folder needs the "
            "same label map. Write to a new --output folder or give both splits the same categories."
        )
    return None


def _checked_entries(entries, invalid_annotations, skip_invalid):
    """(entries to write, ConversionSummary of what is left out) after the checks that need no image reads.

    Missing image files, ``invalid_annotations`` (messages from the format module) and invalid boxes
    (``box_problem``) raise ConversionError naming them all, unless ``skip_invalid``: then missing images are
    left out, invalid boxes removed from their entries, and each is counted and named in the summary.
    """
    entries = list(entries)
    missing = [entry for entry in entries if not os.path.isfile(entry.path)]
    bad_boxes = [(entry, index, problem) for entry in entries for index, box in enumerate(entry.boxes)
                 if (problem := box_problem(box))]
    annotations = list(invalid_annotations) + [
        f"{entry.path}: box {index} {tuple(entry.boxes[index])}: {problem}" for entry, index, problem in bad_boxes]
    problems = annotations + [f"{entry.path}: image file not found" for entry in missing]
    if problems and not skip_invalid:
        _raise_invalid(problems, "invalid inputs (missing image files, unknown categories or invalid boxes)")
    for entry, index, _ in reversed(bad_boxes):  # reversed: earlier indices stay valid
        for values in (entry.boxes, entry.labels, entry.texts, entry.is_crowd, entry.area):
            if len(values) > index:
                del values[index]
    summary = ConversionSummary(skipped_images=len(missing), skipped_annotations=len(annotations), skipped=problems)
    missing_ids = {id(entry) for entry in missing}
    return [entry for entry in entries if id(entry) not in missing_ids], summary


def _remove_dead_staging(records_dir):
    """Removes staging folders ``.*.tmp-PID`` of conversions whose process is gone (killed mid-way). Our own
    pid counts as gone: this process has no staging folder yet (a container restart reuses small pids)."""
    for folder in glob.glob(os.path.join(glob.escape(records_dir), f".*{_STAGING_MARK}*")):
        pid = folder.rsplit(_STAGING_MARK, 1)[1]
        if os.path.isdir(folder) and pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
            shutil.rmtree(folder, ignore_errors=True)


def _install_shards(staging, records_dir, pattern):
    """Moves the finished shards from ``staging`` into ``records_dir`` (``os.replace``, after an fsync) and
    removes the split's other shards (``pattern``: an earlier conversion with another shard count).

    Each shard is replaced atomically; a kill during these few renames can leave old and new shards of the
    split side by side (each complete), fixed by running the conversion again."""
    installed = set()
    for name in sorted(os.listdir(staging)):
        source = os.path.join(staging, name)
        with open(source, "rb") as file:
            os.fsync(file.fileno())
        installed.add(os.path.join(records_dir, name))
        os.replace(source, os.path.join(records_dir, name))
    stale = sorted(set(glob.glob(pattern)) - installed)
    for path in stale:  # they would be read along with the new ones
        os.remove(path)
    if stale:
        first = os.path.basename(stale[0])
        print(f"removed {len(stale)} shards of an earlier conversion ({first} ...)", file=sys.stderr)


def write_records(
    entries,
    output_dir,
    split,
    num_shards,
    categories,
    *,
    workers=None,
    skip_invalid=False,
    invalid_annotations=(),
    prefix=layout.DEFAULT_PREFIX,
    progress=True,
):
    """Write ``entries`` to ``output_dir/tfrecords/{prefix}_{split}.record-0000i-of-0000N`` and the label map
    ``output_dir/mscoco_label_map.pbtxt`` (``categories``: {id: name} or COCO-style dicts).

    Image i goes to shard i % num_shards, as the OD API does; shards are written by ``workers`` processes
    (default: one per CPU, one process for fewer than 20,000 images). ``invalid_annotations``: messages about
    annotations the format module could not use (unknown categories, invalid boxes); with missing image files
    they stop the conversion before anything is written unless ``skip_invalid``. The split's earlier shards
    and the label map change only when the whole split was written (see the module docstring). Returns a
    ConversionSummary.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    entries, summary = _checked_entries(entries, invalid_annotations, skip_invalid)
    label_map_file = layout.label_map_path(output_dir)
    label_map = _check_label_map(label_map_file, categories)
    records_dir = os.path.join(output_dir, layout.RECORDS_DIRNAME)
    os.makedirs(records_dir, exist_ok=True)
    _remove_dead_staging(records_dir)
    staging = os.path.join(records_dir, f".{prefix}_{split}{_STAGING_MARK}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        tasks = [
            (os.path.join(staging, os.path.basename(layout.shard_path(output_dir, split, index, num_shards, prefix))),
             entries[index::num_shards], skip_invalid)
            for index in range(num_shards)
        ]
        for result in _write_shards(tasks, workers, len(entries), f"{prefix}_{split}", progress):
            summary.merge(result)
        _install_shards(staging, records_dir, layout.record_file_pattern(output_dir, split, prefix))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if label_map is not None:
        from keras_centernet.data.label_map import write_label_map

        with atomic_path(label_map_file) as temporary:
            write_label_map(temporary, label_map)
    summary.shards = num_shards
    return summary


def _write_shards(tasks, workers, count, description, progress):
    """ConversionSummary of each task ``(shard path, entries, skip_invalid)``, in ``workers`` processes
    (default: one per CPU from 20,000 images on, else this process) with a progress bar over ``count`` images."""
    from tqdm import tqdm

    if workers is None:  # starting a worker (it imports TensorFlow) costs seconds: not worth it for a few images
        workers = (os.cpu_count() or 1) if count >= _MIN_IMAGES_PER_POOL else 1
    workers = max(1, min(workers, len(tasks)))
    bar = tqdm(total=count, unit="img", desc=description, disable=not progress)
    try:
        if workers == 1:
            return [_write_shard(task, report=bar.update) for task in tasks]
        return _write_in_pool(tasks, workers, bar)
    finally:
        bar.close()


def _write_in_pool(tasks, workers, bar):
    # "spawn": forking a process that already runs TensorFlow threads can deadlock the children. A worker
    # that dies raises BrokenProcessPool here instead of hanging; the workers end when this process dies
    # (_end_with_parent).
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(progress_queue, os.getpid())
    ) as executor:
        futures = [executor.submit(_write_shard, task) for task in tasks]
        try:
            while not all(future.done() for future in futures):
                try:
                    bar.update(progress_queue.get(timeout=0.2))
                except queue.Empty:
                    pass
            results = [future.result() for future in futures]  # re-raises a worker's ConversionError
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    while True:
        try:
            bar.update(progress_queue.get(timeout=0.05))
        except queue.Empty:
            break
    return results
