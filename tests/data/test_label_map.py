"""Label map .pbtxt read / write (no TensorFlow needed)."""

import pytest

from keras_centernet.data.label_map import class_ids, read_label_map, write_label_map


def test_write_read_round_trip_sorted_by_id(tmp_path):
    path = write_label_map(str(tmp_path / "sub" / "map.pbtxt"), [{"id": 7, "name": 'a "quoted" bird'},
                                                                 {"id": 1, "name": "cat"}])
    assert read_label_map(path) == {1: "cat", 7: 'a "quoted" bird'}
    assert list(read_label_map(path)) == [1, 7]
    assert class_ids(path) == [1, 7]


def test_reads_object_detection_api_label_map(tmp_path):
    path = tmp_path / "mscoco_label_map.pbtxt"
    path.write_text(
        "# COCO\nitem {\n  name: \"/m/01g317\"\n  id: 1\n  display_name: \"person\"\n}\n"
        "item {\n  name: \"/m/0199g\"  # bicycle\n  id: 2\n  display_name: \"bicycle\"\n}\n"
        "item { id: 90 name: 'toothbrush' }\n"
    )
    assert read_label_map(str(path)) == {1: "person", 2: "bicycle", 90: "toothbrush"}


def test_bad_label_maps_name_the_file(tmp_path):
    empty = tmp_path / "empty.pbtxt"
    empty.write_text("nothing here\n")
    with pytest.raises(ValueError, match="empty.pbtxt.*no 'item"):
        read_label_map(str(empty))
    twice = tmp_path / "twice.pbtxt"
    twice.write_text('item { id: 1 name: "a" }\nitem { id: 1 name: "b" }\n')
    with pytest.raises(ValueError, match="twice.pbtxt: id 1 appears twice"):
        read_label_map(str(twice))
    no_id = tmp_path / "noid.pbtxt"
    no_id.write_text('item { name: "a" }\n')
    with pytest.raises(ValueError, match="noid.pbtxt: item 1 has no integer id"):
        read_label_map(str(no_id))
