"""A failed conversion never touches the earlier good one; images are fully decoded; staging is cleaned up."""

import os
import subprocess
import sys

import pytest

from tests.helpers import snapshot as _snapshot

pytestmark = pytest.mark.tensorflow


def _bad_dataset(tmp_path, coco_writer, encode_image, kind):
    """A COCO dataset whose first image is broken in the way ``kind`` says (same categories as tiny_coco)."""
    good = encode_image(20, 20, seed=5)
    first = {
        "size": (good, 30, 30, 1),  # the json says 30x30, the file is 20x20
        "not-an-image": (b"GIF89a but no picture follows" * 4, 20, 20, 1),
        "truncated": (good[: len(good) // 2], 20, 20, 1),
    }[kind]
    images = {"a.jpg": first, "b.jpg": (encode_image(16, 16, seed=6), 16, 16, 2)}
    annotations = [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0, "area": 25.0}]
    return coco_writer(str(tmp_path / f"bad-{kind}"), images, annotations)


@pytest.mark.parametrize("num_shards", [2, 3])
@pytest.mark.parametrize("kind", ["size", "not-an-image", "truncated"])
def test_failed_conversion_keeps_the_earlier_shards_and_label_map(
    tiny_coco, tmp_path, coco_writer, encode_image, kind, num_shards
):
    from keras_centernet.data import ConversionError, convert_coco

    output = str(tmp_path / "out")
    for split in ("val", "train"):
        convert_coco(tiny_coco["json"], tiny_coco["images"], output, split=split, num_shards=2, workers=1,
                     progress=False)
    before = _snapshot(output)
    assert sorted(before) == ["mscoco_label_map.pbtxt"] + [
        f"tfrecords/coco_{split}.record-0000{i}-of-00002" for split in ("train", "val") for i in (0, 1)]
    assert all(before.values())
    json_path, image_dir = _bad_dataset(tmp_path, coco_writer, encode_image, kind)
    reason = {"size": "annotated size 30x30 but the file is 20x20", "not-an-image": "not a readable image",
              "truncated": "not a readable image .image file is truncated"}[kind]
    with pytest.raises(ConversionError, match=rf"a\.jpg: {reason}"):
        convert_coco(json_path, image_dir, output, split="val", num_shards=num_shards, workers=1, progress=False)
    assert _snapshot(output) == before  # same files, same bytes: nothing removed, truncated or left behind


def test_truncated_jpeg_is_skipped_and_counted_with_skip_invalid(tmp_path, coco_writer, encode_image, monkeypatch):
    from PIL import ImageFile

    from keras_centernet.data import convert_coco

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # set by some other library in this process
    json_path, image_dir = _bad_dataset(tmp_path, coco_writer, encode_image, "truncated")
    output = str(tmp_path / "out")
    summary = convert_coco(json_path, image_dir, output, split="val", num_shards=1, skip_invalid=True,
                           progress=False)
    assert (summary.images, summary.skipped_images, summary.boxes) == (1, 1, 1)
    assert f"{os.path.join(image_dir, 'a.jpg')}: not a readable image (image file is truncated" in summary.format()
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is given back
    assert sorted(os.listdir(os.path.join(output, "tfrecords"))) == ["coco_val.record-00000-of-00001"]


def test_failed_first_conversion_writes_no_shards_and_no_label_map(tmp_path, coco_writer, encode_image):
    from keras_centernet.data import ConversionError, convert_coco

    json_path, image_dir = _bad_dataset(tmp_path, coco_writer, encode_image, "truncated")
    output = tmp_path / "out"
    with pytest.raises(ConversionError):
        convert_coco(json_path, image_dir, str(output), split="val", num_shards=1, progress=False)
    assert _snapshot(output) == {}
    assert os.listdir(output / "tfrecords") == []


def test_a_killed_conversions_staging_folder_is_removed_by_the_next_run(tiny_coco, tmp_path):
    from keras_centernet.data import convert_coco

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    records = tmp_path / "out" / "tfrecords"
    killed = records / f".coco_val.tmp-{int(dead.stdout)}"
    live = records / f".coco_train.tmp-{os.getppid()}"  # another conversion still running: left alone
    reused = records / f".coco_train.tmp-{os.getpid()}"  # killed before a restart gave its pid to this process
    for folder in (killed, live, reused):
        folder.mkdir(parents=True)
        (folder / "coco_val.record-00000-of-00002").write_bytes(b"half a shard")
    convert_coco(tiny_coco["json"], tiny_coco["images"], str(tmp_path / "out"), split="val", num_shards=2,
                 workers=1, progress=False)
    assert sorted(os.listdir(records)) == [live.name, "coco_val.record-00000-of-00002",
                                           "coco_val.record-00001-of-00002"]


def test_reconverting_with_fewer_shards_replaces_only_that_split(tiny_coco, tmp_path):
    from keras_centernet.data import convert_coco

    output = str(tmp_path / "out")
    for split, shards in (("val", 3), ("train", 2)):
        convert_coco(tiny_coco["json"], tiny_coco["images"], output, split=split, num_shards=shards, workers=1,
                     progress=False)
    train = {name: data for name, data in _snapshot(output).items() if "train" in name}
    convert_coco(tiny_coco["json"], tiny_coco["images"], output, split="val", num_shards=1, workers=1, progress=False)
    after = _snapshot(output)
    assert sorted(name for name in after if "val" in name) == ["tfrecords/coco_val.record-00000-of-00001"]
    assert {name: data for name, data in after.items() if "train" in name} == train


def test_convert_coco_command_names_a_truncated_jpeg_in_one_line(tmp_path, coco_writer, encode_image, capsys):
    from keras_centernet import cli

    json_path, image_dir = _bad_dataset(tmp_path, coco_writer, encode_image, "truncated")
    args = ["convert-coco", "--annotations", json_path, "--images", image_dir, "--output", str(tmp_path / "o"),
            "--split", "val", "--num-shards", "1", "--no-progress"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    bad = os.path.join(image_dir, "a.jpg")
    expected = f"keras-centernet convert-coco: error: {bad}: not a readable image (image file is truncated"
    assert err[-1].startswith(expected)
    assert cli.main(args + ["--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "images written       1" in out and "images skipped       1" in out and f"skipped: {bad}" in out
