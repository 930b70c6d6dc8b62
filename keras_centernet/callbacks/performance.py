"""Training throughput and end-to-end time -> ``<output_dir>/summary/summary.json`` (the seed's
``use_performance``).

`PerformanceCallback` times each train-function call from `on_train_batch_begin` to
`on_train_batch_end` (waiting for the step's logs, so asynchronous devices are timed honestly), skips
the first ``warmup_steps`` steps (tracing, autotuning, caches), and counts the steps of each call from
the batch indices Keras passes (``end - begin + 1``), so it is right with ``steps_per_execution > 1``
and with a short last execution. Time spent outside train steps (validation, checkpoints, other
callbacks) is excluded from throughput and included in ``e2e_time``.
"""

import importlib.metadata
import os
import platform
import time

import keras

from keras_centernet import atomic_files

SUMMARY_FILE = os.path.join("summary", "summary.json")
_LIBRARIES = ("keras", "tensorflow", "jax", "jaxlib", "torch", "horovod", "numpy")


def library_versions():
    """``{name: version}`` of keras_centernet and the installed libraries that matter for speed."""
    from keras_centernet import __version__

    versions = {"keras_centernet": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def device_names():
    """Names of the devices this process computes on, e.g. ``["/device:GPU:0 (NVIDIA H100 80GB HBM3)"]``
    (TensorFlow), ``["cuda:0 (NVIDIA H100 80GB HBM3)"]`` (JAX). Imports only the active backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        names = []
        for device in tf.config.get_visible_devices():
            details = {}
            if device.device_type != "CPU":
                try:
                    details = tf.config.experimental.get_device_details(device)
                except (ValueError, RuntimeError):
                    details = {}
            name = device.name.replace("/physical_device:", "/device:")
            names.append(f"{name} ({details['device_name']})" if details.get("device_name") else name)
        return names
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.local_devices()]
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    return [f"cpu ({platform.processor() or platform.machine()})"]


def _wait_for(logs):
    """Block until the step that produced ``logs`` has finished (one scalar device->host copy)."""
    for value in (logs or {}).values():
        keras.ops.convert_to_numpy(value)
        return


class PerformanceCallback(keras.callbacks.Callback):
    """Measures training throughput and writes a JSON summary on the chief.

    Args:
        batch_size: images per device per step.
        num_devices: data-parallel devices in the job (Horovod world size x devices per process).
        warmup_steps: first steps left out of the throughput.
        output_dir: the summary goes to ``output_dir/summary/summary.json``; None: print only.
        precision: label for the report; default the global dtype policy (e.g. ``mixed_float16``).
        is_chief: only the chief prints and writes (every rank measures).
        print_fn: where the one-line summary goes.
        clock: seconds as a float (default `time.perf_counter`); tests pass a clock they advance themselves.

    After training, ``callback.summary`` holds the dict that was written. Passed to several ``fit`` calls (train()
    runs a resumed epoch's rest and a shorter last epoch in fits of their own), it counts them together from the
    first and rewrites the summary after each.
    """

    def __init__(
        self,
        batch_size,
        num_devices=1,
        warmup_steps=10,
        output_dir=None,
        precision=None,
        is_chief=True,
        print_fn=print,
        clock=time.perf_counter,
    ):
        super().__init__()
        if batch_size < 1 or num_devices < 1 or warmup_steps < 0:
            raise ValueError(
                f"PerformanceCallback needs batch_size >= 1, num_devices >= 1, warmup_steps >= 0; got "
                f"{batch_size}, {num_devices}, {warmup_steps}"
            )
        self.batch_size = int(batch_size)
        self.num_devices = int(num_devices)
        self.warmup_steps = int(warmup_steps)
        self.output_dir = output_dir
        self.precision = precision
        self.is_chief = is_chief
        self.print_fn = print_fn
        self.clock = clock
        self.summary = None
        self._train_begin = None

    @property
    def global_batch_size(self):
        return self.batch_size * self.num_devices

    def on_train_begin(self, logs=None):
        if self._train_begin is not None:
            return  # a later model.fit of the same run: the counts go on
        self._train_begin = self.clock()
        self._steps = 0
        self._timed_steps = 0
        self._timed_seconds = 0.0
        self._call_begin = None

    def on_train_batch_begin(self, batch, logs=None):
        self._begin_index = batch
        self._call_begin = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        _wait_for(logs)
        now = self.clock()
        total = (self.params or {}).get("steps")
        last = min(batch, total - 1) if total else batch  # Keras reports a full last execution
        steps = max(1, last - self._begin_index + 1)
        if self._steps >= self.warmup_steps:
            self._timed_steps += steps
            self._timed_seconds += now - self._call_begin
        self._steps += steps

    def on_train_end(self, logs=None):
        e2e_time = self.clock() - self._train_begin
        self.summary = self._build_summary(e2e_time)
        if not self.is_chief:
            return
        if self.output_dir:
            atomic_files.write_json(os.path.join(self.output_dir, SUMMARY_FILE), self.summary, indent=2)
        self.print_fn(self.format_summary(self.summary))

    def _build_summary(self, e2e_time):
        if self._timed_steps and self._timed_seconds > 0:
            throughput = self.global_batch_size * self._timed_steps / self._timed_seconds
            step_time = self._timed_seconds / self._timed_steps
        else:
            throughput = step_time = None
        return {
            "throughput": throughput,
            "throughput_per_device": None if throughput is None else throughput / self.num_devices,
            "e2e_time": e2e_time,
            "step_time": step_time,
            "timed_time": self._timed_seconds,
            "batch_size": self.batch_size,
            "global_batch_size": self.global_batch_size,
            "num_devices": self.num_devices,
            "precision": self.precision or keras.config.dtype_policy().name,
            "steps": self._steps,
            "timed_steps": self._timed_steps,
            "warmup_steps": self._steps - self._timed_steps,
            "steps_per_execution": int(getattr(self.model, "steps_per_execution", 1) or 1),
            "backend": keras.backend.backend(),
            "devices": device_names(),
            "versions": library_versions(),
            "hostname": platform.node(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    @staticmethod
    def format_summary(summary):
        """One line: throughput, per-device throughput, batch sizes, precision, e2e time."""
        if summary["throughput"] is None:
            rate = f"no throughput: {summary['steps']} steps <= {summary['warmup_steps']} warm-up steps"
        else:
            rate = (
                f"{summary['throughput']:.1f} images/s ({summary['throughput_per_device']:.1f} per device, "
                f"{summary['step_time'] * 1000:.1f} ms/step over {summary['timed_steps']} steps after "
                f"{summary['warmup_steps']} warm-up)"
            )
        return (
            f"performance: {rate}; {summary['num_devices']} device(s), batch {summary['batch_size']}/device "
            f"({summary['global_batch_size']} global), {summary['precision']}, "
            f"e2e_time {summary['e2e_time']:.1f} s"
        )
