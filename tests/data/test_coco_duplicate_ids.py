"""A COCO json that lists an image id twice, or a category id with two names, is refused before any work."""


import pytest

from tests.helpers import snapshot as _snapshot

pytestmark = pytest.mark.tensorflow


def _earlier_conversion(tiny_coco, output):
    from keras_centernet.data import convert_coco

    convert_coco(tiny_coco["json"], tiny_coco["images"], output, split="train", num_shards=2, workers=1,
                 progress=False)
    before = _snapshot(output)
    assert sorted(before) == ["mscoco_label_map.pbtxt"] + [
        f"tfrecords/coco_train.record-0000{i}-of-00002" for i in (0, 1)]
    return before


def _duplicate_image_ids(tmp_path, coco_writer, encode_image):
    """a.jpg and b.jpg both have id 7 (c.jpg id 8 is fine); the box of image 7 would land on one of them."""
    images = {"a.jpg": (encode_image(20, 20, seed=1), 20, 20, 7), "b.jpg": (encode_image(16, 16, seed=2), 16, 16, 7),
              "c.jpg": (encode_image(16, 16, seed=3), 16, 16, 8)}
    annotations = [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0, "area": 25.0}]
    return coco_writer(str(tmp_path / "dup-images"), images, annotations, name="instances_train.json")


def _duplicate_category_ids(tmp_path, coco_writer, encode_image, categories):
    images = {"a.jpg": (encode_image(20, 20, seed=1), 20, 20, 1)}
    annotations = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 0, "area": 25.0}]
    return coco_writer(str(tmp_path / "dup-categories"), images, annotations, categories=categories,
                       name="instances_train.json")


CAT_DOG = [{"id": 1, "name": "cat"}, {"id": 3, "name": "cat"}, {"id": 7, "name": "bird"}, {"id": 3, "name": "dog"}]


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_an_image_id_listed_twice_is_refused_naming_both_files(tiny_coco, tmp_path, coco_writer, encode_image,
                                                               skip_invalid):
    from keras_centernet.data import ConversionError, convert_coco
    from keras_centernet.data.coco import read_coco_entries

    output = str(tmp_path / "out")
    before = _earlier_conversion(tiny_coco, output)
    json_path, image_dir = _duplicate_image_ids(tmp_path, coco_writer, encode_image)
    expected = f"{json_path}: image id 7 is listed twice (a.jpg, b.jpg)"
    with pytest.raises(ConversionError) as raised:
        convert_coco(json_path, image_dir, output, split="train", num_shards=2, workers=1, skip_invalid=skip_invalid,
                     progress=False)
    assert str(raised.value) == expected  # one line; --skip_invalid cannot tell whose boxes they are either
    assert _snapshot(output) == before
    with pytest.raises(ConversionError, match="image id 7 is listed twice"):
        read_coco_entries(json_path)


def test_a_category_id_listed_with_two_names_is_refused_naming_both(tiny_coco, tmp_path, coco_writer, encode_image):
    from keras_centernet.data import ConversionError, convert_coco

    output = str(tmp_path / "out")
    before = _earlier_conversion(tiny_coco, output)
    json_path, image_dir = _duplicate_category_ids(tmp_path, coco_writer, encode_image, CAT_DOG)
    with pytest.raises(ConversionError) as raised:
        convert_coco(json_path, image_dir, output, split="train", num_shards=2, workers=1, skip_invalid=True,
                     progress=False)
    assert str(raised.value) == f'{json_path}: category id 3 is listed twice ("cat", "dog")'
    assert _snapshot(output) == before


def test_several_duplicates_are_counted_in_the_same_line(tmp_path, coco_writer, encode_image):
    from keras_centernet.data import ConversionError
    from keras_centernet.data.coco import read_coco_entries

    images = {name: (None, 8, 8, image_id) for name, image_id in
              (("a.jpg", 7), ("b.jpg", 7), ("c.jpg", 7), ("d.jpg", 9), ("e.jpg", 9))}
    json_path, _ = coco_writer(str(tmp_path / "c"), images, [])
    with pytest.raises(ConversionError) as raised:
        read_coco_entries(json_path)
    assert str(raised.value) == (f"{json_path}: image id 7 is listed 3 times (a.jpg, b.jpg, c.jpg); "
                                 "1 more image id is listed more than once")


def test_the_same_category_listed_twice_with_the_same_name_is_accepted(tmp_path, coco_writer, encode_image):
    """Merged category lists repeat entries; the label map is the same whichever listing is taken."""
    from keras_centernet.data import convert_coco, read_label_map

    categories = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 3, "name": "dog"}]
    json_path, image_dir = _duplicate_category_ids(tmp_path, coco_writer, encode_image, categories)
    output = tmp_path / "out"
    summary = convert_coco(json_path, image_dir, str(output), split="train", num_shards=1, progress=False)
    assert (summary.images, summary.boxes) == (1, 1)
    assert read_label_map(str(output / "mscoco_label_map.pbtxt")) == {1: "cat", 3: "dog"}


@pytest.mark.parametrize("kind", ["image", "category"])
def test_convert_coco_command_refuses_duplicates_in_one_line(tiny_coco, tmp_path, coco_writer, encode_image, kind,
                                                             capsys):
    from keras_centernet import cli

    output = str(tmp_path / "out")
    before = _earlier_conversion(tiny_coco, output)
    if kind == "image":
        json_path, image_dir = _duplicate_image_ids(tmp_path, coco_writer, encode_image)
        rule = "image id 7 is listed twice (a.jpg, b.jpg)"
    else:
        json_path, image_dir = _duplicate_category_ids(tmp_path, coco_writer, encode_image, CAT_DOG)
        rule = 'category id 3 is listed twice ("cat", "dog")'
    capsys.readouterr()
    code = cli.main(["convert-coco", "--annotations", json_path, "--images", image_dir, "--output", output,
                     "--num_shards", "2", "--workers", "2", "--skip_invalid", "--no_progress"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip().splitlines() == [f"keras-centernet convert-coco: error: {json_path}: {rule}"]
    assert captured.out == ""
    assert _snapshot(output) == before
