"""keras_centernet.callbacks, .data and .evaluation export their public names, imported on first use: every name
in __all__ resolves, every callback class is exported, and importing the packages imports no TensorFlow."""

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys

import keras
import pytest

PACKAGES = ("keras_centernet.callbacks", "keras_centernet.data", "keras_centernet.evaluation")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    "name", [pytest.param(p, marks=pytest.mark.tensorflow) if p.endswith("data") else p for p in PACKAGES]
)  # data's build_dataset and TFRecord helpers import TensorFlow
def test_every_exported_name_resolves_to_its_module_object(name):
    package = importlib.import_module(name)
    assert package.__all__ == sorted(set(package.__all__)) and package.__all__
    for export in package.__all__:
        value = getattr(package, export)
        module = importlib.import_module(package._EXPORTS[export])
        assert value is getattr(module, export), export
        assert export in dir(package)
    namespace = {}
    exec(f"from {name} import *", namespace)
    assert set(package.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match=f"module '{name}' has no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018


def test_every_callback_class_is_exported():
    import keras_centernet.callbacks as callbacks

    defined = set()
    for info in pkgutil.iter_modules(callbacks.__path__):
        module = importlib.import_module(f"keras_centernet.callbacks.{info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, keras.callbacks.Callback) and not name.startswith("_"):
                if value.__module__ == module.__name__:
                    defined.add(name)
    assert defined and defined <= set(callbacks.__all__), defined - set(callbacks.__all__)
    from keras_centernet.callbacks import CocoEvalCallback, TrainingProgress

    assert CocoEvalCallback.__module__.endswith("coco_eval") and TrainingProgress.__module__.endswith("progress")


NO_TENSORFLOW = """
import json, sys

class RecordTensorFlow:
    attempts = []

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            self.attempts.append(name)
            raise ImportError(f"{name} is blocked for this test")
        return None

blocker = RecordTensorFlow()
sys.meta_path.insert(0, blocker)
import keras_centernet.callbacks, keras_centernet.data, keras_centernet.evaluation
listed = {p.__name__: dir(p) for p in (keras_centernet.callbacks, keras_centernet.data, keras_centernet.evaluation)}
from keras_centernet.callbacks import CocoEvalCallback, PerformanceCallback, TrainingProgress
from keras_centernet.data import make_synthetic_dataset, read_label_map
from keras_centernet.evaluation import evaluate_model
imported = list(blocker.attempts)
try:
    from keras_centernet.data import build_dataset  # tf.data: this one needs TensorFlow
except ImportError:
    pass
print(json.dumps({"before": imported, "after": blocker.attempts, "listed": listed}))
"""


def test_importing_the_packages_imports_no_tensorflow():
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == []
    assert result["after"] and result["after"][0] == "tensorflow"  # the blocker sees a real TensorFlow import
    assert "TrainingProgress" in result["listed"]["keras_centernet.callbacks"]
    assert "build_dataset" in result["listed"]["keras_centernet.data"]
    assert "evaluate_dataset" in result["listed"]["keras_centernet.evaluation"]
