import json

import pytest

from keras_centernet.cli import main


@pytest.mark.tensorflow
def test_benchmark_command_reports_train_and_predict_throughput(tmp_path, capsys):
    output = tmp_path / "bench.json"
    code = main(["benchmark", "--backbone", "tiny", "--neck", "fpn", "--image_size", "64", "--batch_size", "4",
                 "--steps", "4", "--warmup_steps", "2", "--num_classes", "6", "--output", str(output)])  # fmt: skip
    assert code == 0
    result = json.loads(output.read_text())
    assert result["train_steps_measured"] == 6  # 2 epochs of 4 steps, the 2 warm-up steps left out
    assert result["train_images_per_second"] > 0 and result["predict_images_per_second"] > 0
    assert (result["backbone"], result["image_size"], result["num_classes"]) == ("tiny", 64, 6)
    assert "train" in capsys.readouterr().out


def test_benchmark_rejects_sizes_that_are_not_multiples_of_32(capsys):
    assert main(["benchmark", "--backbone", "tiny", "--image_size", "100"]) == 2
    assert capsys.readouterr().err.strip() == (
        "keras-centernet benchmark: error: --image_size must be a positive multiple of 32, got 100 (nearest: 96)"
    )
