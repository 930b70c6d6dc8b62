"""`keras-centernet convert-coco` / `convert-voc` through the CLI dispatcher."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.tensorflow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_convert_coco_command_writes_the_layout_and_prints_the_summary(tiny_coco, tmp_path, capsys):
    from keras_centernet import cli

    output = str(tmp_path / "dataset")
    code = cli.main(["convert-coco", "--annotations", tiny_coco["json"], "--images", tiny_coco["images"],
                     "--output", output, "--split", "val", "--num-shards", "2", "--workers", "1", "--no-progress"])
    assert code == 0
    assert sorted(os.listdir(os.path.join(output, "tfrecords"))) == [
        "coco_val.record-00000-of-00002", "coco_val.record-00001-of-00002"]
    assert os.path.isfile(os.path.join(output, "mscoco_label_map.pbtxt"))
    out = capsys.readouterr().out
    assert "images written       3 (1 without boxes" in out and "boxes written        5 (1 crowd)" in out
    assert "boxes clipped        1" in out and "boxes dropped        1" in out


def test_convert_coco_command_names_missing_images_and_fails(tiny_coco, tmp_path, capsys):
    from keras_centernet import cli

    os.remove(os.path.join(tiny_coco["images"], "rgb.jpg"))
    args = ["convert-coco", "--annotations", tiny_coco["json"], "--images", tiny_coco["images"],
            "--output", str(tmp_path / "o"), "--split", "val", "--no-progress"]
    assert cli.main(args) == 2
    assert "rgb.jpg: image file not found" in capsys.readouterr().err
    assert cli.main(args + ["--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "images skipped       1" in out and "rgb.jpg: image file not found" in out
    assert len(os.listdir(tmp_path / "o" / "tfrecords")) == 10  # val default: 10 shards


def test_convert_voc_command(tmp_path, encode_image, capsys):
    from keras_centernet import cli
    from keras_centernet.data import read_label_map

    folder = tmp_path / "voc"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode_image(20, 30, image_format="PNG"))
    (folder / "a.xml").write_text(
        "<annotation><filename>a.png</filename><size><width>30</width><height>20</height></size><object>"
        "<name>tree</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>12</ymax></bndbox></object>"
        "</annotation>")
    output = tmp_path / "out"
    assert cli.main(["convert-voc", "--annotations", str(folder), "--output", str(output), "--classes",
                     "bush,tree", "--no-progress"]) == 0
    assert read_label_map(str(output / "mscoco_label_map.pbtxt")) == {1: "bush", 2: "tree"}
    assert os.listdir(output / "tfrecords") == ["coco_train.record-00000-of-00001"]
    assert "boxes written        1 (0 crowd)" in capsys.readouterr().out


@pytest.mark.slow
def test_python_m_cli_convert_coco(tiny_coco, tmp_path):
    output = str(tmp_path / "dataset")
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "keras_centernet.cli", "convert-coco", "--annotations", tiny_coco["json"],
         "--images", tiny_coco["images"], "--output", output, "--split", "train", "--num-shards", "3"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "images written       3" in result.stdout
    assert sorted(os.listdir(os.path.join(output, "tfrecords"))) == [
        f"coco_train.record-0000{i}-of-00003" for i in range(3)]
