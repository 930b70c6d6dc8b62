"""Strategy selection (`keras_centernet.distribution`): Runtime arithmetic, MirroredStrategy on two logical
CPUs (TensorFlow) and keras.distribution.DataParallel on two host devices (JAX), each in a subprocess."""

import json
import os
import subprocess
import sys

import keras
import pytest

from keras_centernet.distribution import Runtime, setup_distribution

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_single_process_runtime():
    runtime = setup_distribution("single")
    assert runtime == Runtime()
    assert runtime.is_chief and runtime.shard is None and runtime.num_devices == 1
    assert runtime.process_batch_size(8) == 8 and runtime.global_batch_size(8) == 8
    with runtime.scope():
        pass


def test_horovod_runtime_arithmetic():
    rank3 = Runtime(strategy_name="horovod", rank=3, size=16, local_rank=3, local_size=8)
    assert not rank3.is_chief and rank3.shard == (16, 3) and rank3.use_horovod
    assert rank3.num_devices == 16 and rank3.process_batch_size(8) == 8 and rank3.global_batch_size(8) == 128
    mirrored = Runtime(strategy_name="mirrored", replicas_per_process=4)
    assert mirrored.shard is None and mirrored.process_batch_size(8) == 32 and mirrored.global_batch_size(8) == 32


def test_rejects_unknown_or_mismatched_strategy():
    with pytest.raises(ValueError, match="strategy='ring'"):
        setup_distribution("ring")
    other = "data_parallel" if keras.backend.backend() == "tensorflow" else "mirrored"
    with pytest.raises(ValueError, match=other):
        setup_distribution(other)


@pytest.mark.horovod
@pytest.mark.tensorflow
def test_horovod_runtime_with_one_process():
    pytest.importorskip("horovod.tensorflow")
    runtime = setup_distribution("horovod", use_gpu=False)
    assert (runtime.strategy_name, runtime.rank, runtime.size, runtime.local_rank) == ("horovod", 0, 1, 0)
    assert runtime.shard is None and runtime.is_chief


TRAIN_TWO_DEVICES = """
import json, sys
import keras, numpy as np
{setup}
from keras_centernet.distribution import setup_distribution
from keras_centernet.data.synthetic import make_synthetic_dataset
runtime = setup_distribution({strategy!r}, devices={devices!r})
images, boxes, labels = make_synthetic_dataset(8, image_size=64, max_boxes=8, seed=1)
keras.utils.set_random_seed(0)
with runtime.scope():
    from keras_centernet.models.centernet import CenterNet
    model = CenterNet(3, backbone="tiny", neck="deconv", head_channels=8)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
history = model.fit(images.astype("float32"), {{"boxes": boxes, "labels": labels}},
                    batch_size=runtime.process_batch_size(2), epochs=1, verbose=0)
print(json.dumps({{"strategy": runtime.strategy_name, "replicas": runtime.replicas_per_process,
                  "loss": history.history["loss"], "iterations": int(model.optimizer.iterations.numpy())}}))
"""


def _run(code, backend, extra_env=None):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    env.update(extra_env or {})
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.tensorflow
def test_mirrored_strategy_trains_on_two_logical_cpus():
    setup = (
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)"
    )
    code = TRAIN_TWO_DEVICES.format(setup=setup, strategy="mirrored", devices=["/cpu:0", "/cpu:1"])
    result = _run(code, "tensorflow")
    assert result["strategy"] == "mirrored" and result["replicas"] == 2
    # 8 images, global batch 2 per replica x 2 replicas: 2 optimizer steps, finite loss.
    assert result["iterations"] == 2 and 0 < result["loss"][0] < 1e4


@pytest.mark.slow
def test_data_parallel_trains_on_two_jax_host_devices():
    pytest.importorskip("jax")
    code = TRAIN_TWO_DEVICES.format(setup="", strategy="data_parallel", devices=None)
    result = _run(code, "jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert result["strategy"] == "data_parallel" and result["replicas"] == 2
    assert result["iterations"] == 2 and 0 < result["loss"][0] < 1e4


@pytest.mark.tensorflow
def test_pin_local_device_picks_the_local_rank_of_each_device_type(monkeypatch):
    import tensorflow as tf

    from keras_centernet import distribution

    gpus = [tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(4)]
    others = [tf.config.PhysicalDevice(f"/physical_device:XPU:{i}", "XPU") for i in range(2)]
    visible, growth = {}, []
    monkeypatch.setattr(distribution, "_accelerators_tf", lambda tf: {"GPU": gpus, "XPU": others})
    monkeypatch.setattr(tf.config, "set_visible_devices", lambda devices, kind: visible.update({kind: devices}))
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", lambda device, on: growth.append(device.name))
    distribution.pin_local_device(3)
    # GPU 3 for local rank 3; the 2-device type has no device 3, so it is left alone.
    assert visible == {"GPU": [gpus[3]]} and growth == ["/physical_device:GPU:3"]
