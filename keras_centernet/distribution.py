"""Choose how training is spread over devices and describe the result as a `Runtime`.

Strategies (one per process, picked by `setup_distribution`):

- ``"horovod"``: one process per device, started by ``horovodrun -np N [-H host1:n1,host2:n2]``
  (TensorFlow backend). Each process sees only its own accelerator (pinned by local rank), reads its own
  shard of the data (`Runtime.shard`) and all-reduces gradients in `CenterNet.train_step`
  (`keras_centernet.horovod.HorovodGradientReducer`).
- ``"mirrored"``: one process driving every accelerator of one host with `tf.distribute.MirroredStrategy`
  (TensorFlow backend, no Horovod). Build and compile the model inside `Runtime.scope()`.
- ``"data_parallel"``: `keras.distribution.DataParallel` over every device of one host (JAX backend).
- ``"single"``: one device, nothing to distribute.

Imports TensorFlow and Horovod only when the chosen strategy needs them, so the module imports on JAX.
"""

import contextlib
import dataclasses
import os

import keras

STRATEGIES = ("auto", "horovod", "mirrored", "data_parallel", "single")


@dataclasses.dataclass(frozen=True)
class Runtime:
    """Where this process sits in a training job.

    Attributes:
        strategy_name: one of ``"horovod"``, ``"mirrored"``, ``"data_parallel"``, ``"single"``.
        rank: global index of this process (0..size-1); 0 without Horovod.
        size: number of training processes (Horovod world size); 1 without Horovod.
        local_rank: index of this process on its host; selects the device it uses.
        local_size: number of training processes on this host.
        replicas_per_process: devices one process drives (MirroredStrategy / DataParallel: all local
            devices; Horovod and single device: 1).
        strategy: the `tf.distribute.Strategy` for ``"mirrored"``, else None.
        distribution: the `keras.distribution.Distribution` for ``"data_parallel"``, else None.
    """

    strategy_name: str = "single"
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    replicas_per_process: int = 1
    strategy: object = None
    distribution: object = None

    @property
    def is_chief(self):
        """True on the process that writes checkpoints, summaries, TensorBoard logs and progress."""
        return self.rank == 0

    @property
    def num_devices(self):
        """Total devices taking part in one training step (data-parallel replicas)."""
        return self.size * self.replicas_per_process

    @property
    def shard(self):
        """``(num_shards, index)`` for `build_dataset(shard=...)`: each Horovod rank reads its own
        part of the files; None when one process reads everything."""
        return (self.size, self.rank) if self.size > 1 else None

    @property
    def use_horovod(self):
        return self.strategy_name == "horovod"

    def process_batch_size(self, per_device_batch_size):
        """Batch size this process's dataset must yield: per-device batch x devices this process drives
        (MirroredStrategy and DataParallel split it across their devices)."""
        return int(per_device_batch_size) * self.replicas_per_process

    def global_batch_size(self, per_device_batch_size):
        """Images in one optimizer step across all devices and processes: the batch the learning rate scales with
        (`keras_centernet.schedules.make_learning_rate_schedule`), the same for every launcher."""
        return int(per_device_batch_size) * self.num_devices

    def from_chief(self, value):
        """The chief's `value` (any picklable object) on every process, so that ranks decide together (where to
        resume, whether the run is finished): Horovod broadcasts it from rank 0; other launchers have one process."""
        if not self.use_horovod:
            return value
        import horovod.tensorflow as hvd

        return hvd.broadcast_object(value, root_rank=0, name="from_chief")

    def all_ranks(self, flag):
        """True on every process when `flag` is true on every process (Horovod gathers them; one process: `flag`)."""
        if not self.use_horovod:
            return bool(flag)
        import horovod.tensorflow as hvd

        return all(hvd.allgather_object(bool(flag), name="all_ranks"))

    def scope(self):
        """Context to build and compile the model in (the MirroredStrategy scope, else a no-op)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def chief_only(callbacks, is_chief):
    """``callbacks`` on the chief (rank 0), an empty list elsewhere: for checkpoints, TensorBoard,
    profiler, performance summary and other writers that must run once per job."""
    return list(callbacks) if is_chief else []


def chief_verbose(verbose, is_chief):
    """``verbose`` for `model.fit` on the chief, 0 (no progress bar) on other ranks."""
    return verbose if is_chief else 0


def _accelerators_tf(tf):
    """Physical non-CPU devices by type (GPU, or a pluggable device type such as a vendor's)."""
    devices = {}
    for device in tf.config.list_physical_devices():
        if device.device_type != "CPU":
            devices.setdefault(device.device_type, []).append(device)
    return devices


def hide_accelerators():
    """Make TensorFlow use the CPU only (call before TensorFlow initializes its devices)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    for device_type in _accelerators_tf(tf):
        tf.config.set_visible_devices([], device_type)


def pin_local_device(local_rank, local_size=None):
    """Let this process see only accelerator ``local_rank`` of each type (TensorFlow), with memory growth.

    Works for GPUs and for pluggable device types alike. A host with fewer devices than processes
    (e.g. CPU-only tests) leaves the device list alone. Must run before TensorFlow initializes devices.
    """
    import tensorflow as tf

    for device_type, devices in _accelerators_tf(tf).items():
        if local_rank >= len(devices):
            continue
        device = devices[local_rank]
        with contextlib.suppress(ValueError, RuntimeError):  # not every device type supports it
            tf.config.experimental.set_memory_growth(device, True)
        tf.config.set_visible_devices([device], device_type)


def init_horovod(pin_devices=True):
    """Initialize Horovod (TensorFlow) and return this process's `Runtime`.

    Raises:
        RuntimeError: not on the TensorFlow backend, or Horovod is missing (with the install command).
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"Horovod needs the TensorFlow backend (KERAS_BACKEND={keras.backend.backend()}); on JAX use "
            "strategy='data_parallel' (keras.distribution.DataParallel)."
        )
    from keras_centernet.horovod import import_horovod

    hvd = import_horovod()
    hvd.init()
    if pin_devices:
        pin_local_device(hvd.local_rank(), hvd.local_size())
    return Runtime(
        strategy_name="horovod",
        rank=hvd.rank(),
        size=hvd.size(),
        local_rank=hvd.local_rank(),
        local_size=hvd.local_size(),
    )


def _mirrored_runtime(devices=None):
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(devices=devices)
    return Runtime(strategy_name="mirrored", replicas_per_process=strategy.num_replicas_in_sync, strategy=strategy)


def _data_parallel_runtime(devices=None):
    devices = devices or keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    return Runtime(strategy_name="data_parallel", replicas_per_process=len(devices), distribution=distribution)


def num_accelerators():
    """Accelerators (non-CPU devices) the active backend sees: TensorFlow GPUs and pluggable devices, JAX
    GPUs/TPUs; 0 on other backends."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return sum(len(d) for d in _accelerators_tf(tf).values())
    if backend == "jax":
        import jax

        return len([d for d in jax.devices() if d.platform != "cpu"])
    return 0


def _launched_by_horovodrun():
    return "HOROVOD_RANK" in os.environ or "OMPI_COMM_WORLD_RANK" in os.environ or "PMI_RANK" in os.environ


def setup_distribution(strategy="auto", use_gpu=True, devices=None):
    """Pick the distribution strategy for this process and return its `Runtime`.

    Args:
        strategy: ``"auto"`` (Horovod when started by horovodrun/mpirun, else MirroredStrategy on
            TensorFlow or DataParallel on JAX when the host has more than one accelerator, else single
            device), or one of ``"horovod"``, ``"mirrored"``, ``"data_parallel"``, ``"single"``.
        use_gpu: False hides accelerators from TensorFlow (train on CPU).
        devices: device names for ``"mirrored"`` / ``"data_parallel"`` (default: all).

    Call it first thing, before any TensorFlow op runs (device visibility is fixed after that).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}: expected one of {', '.join(STRATEGIES)}")
    if not use_gpu:
        hide_accelerators()
    backend = keras.backend.backend()
    if strategy == "auto":
        if _launched_by_horovodrun() and backend == "tensorflow":
            strategy = "horovod"
        elif (devices is not None and len(devices) > 1) or (use_gpu and num_accelerators() > 1):
            strategy = "mirrored" if backend == "tensorflow" else "data_parallel"
        else:
            strategy = "single"
    if strategy == "horovod":
        return init_horovod(pin_devices=use_gpu)
    if strategy == "mirrored":
        if backend != "tensorflow":
            raise ValueError(f"strategy='mirrored' needs the TensorFlow backend, not {backend}")
        return _mirrored_runtime(devices)
    if strategy == "data_parallel":
        if backend != "jax":
            raise ValueError(
                f"strategy='data_parallel' (keras.distribution) needs the JAX backend, not {backend}; "
                "on TensorFlow use 'mirrored' or 'horovod'"
            )
        return _data_parallel_runtime(devices)
    return Runtime()
