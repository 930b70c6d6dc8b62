"""keras_centernet.callbacks: every callback the training uses, importable like keras.callbacks.

    from keras_centernet.callbacks import CocoEvalCallback, TrainingProgress

Names are imported on first use, so ``import keras_centernet.callbacks`` needs no TensorFlow (the Horovod callbacks
import it, and Horovod, when used).
"""

from keras_centernet._lazy import lazy_exports

_MODULES = {
    "keras_centernet.callbacks.backup": ("CrashSafeBackup",),
    "keras_centernet.callbacks.checkpoint": ("EpochCheckpoint",),
    "keras_centernet.callbacks.coco_eval": ("CocoEvalCallback",),
    "keras_centernet.callbacks.history_file": ("HistoryFile",),
    "keras_centernet.callbacks.horovod": (
        "BroadcastGlobalVariablesCallback",
        "MetricAverageCallback",
        "SyncNonTrainableVariablesCallback",
        "horovod_callbacks",
    ),
    "keras_centernet.callbacks.nonfinite": ("NonFiniteLossError", "StopOnNonFinite"),
    "keras_centernet.callbacks.performance": ("PerformanceCallback",),
    "keras_centernet.callbacks.preemption": (
        "INTERRUPTED_EXIT_STATUS",
        "PreemptionGuard",
        "TrainingInterrupted",
        "sigterm_requests",
    ),
    "keras_centernet.callbacks.profiler": ("ProfilerCallback", "make_profiler_callback"),
    "keras_centernet.callbacks.progress": ("TrainingProgress",),
    "keras_centernet.callbacks.step_log": ("StepLog", "read_step_log"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
