"""Learning-rate schedules: piecewise-constant drops with a linear warm-up, scaled by the global batch.

The rule, the same under every launcher (one device, MirroredStrategy over N devices, JAX DataParallel over N
devices, Horovod over N ranks): a learning rate is stated for a reference global batch, and the rate used is

    effective rate = learning_rate x actual global batch / reference global batch

(the linear scaling rule of Goyal et al. 2017). The recipe states Adam 1e-3 at global batch 64, so 8 devices x 8
images train at 1e-3, one device x 8 images at 1.25e-4 and 16 devices x 8 images at 2e-3. A warm-up rises linearly
from 0 at step 0 to the effective rate at step ``warmup_steps``, again whatever the launcher.
"""

import keras

from keras_centernet.validation import InputError

REFERENCE_BATCH_SIZE = 64  # the recipe's global batch: its 1e-3 is the rate for 64 images per step


def scale_lr(learning_rate, global_batch_size, reference_batch_size=REFERENCE_BATCH_SIZE):
    """The linear scaling rule: ``learning_rate`` is the rate for a global batch of ``reference_batch_size``
    images; the rate for ``global_batch_size`` images per optimizer step (all devices, all processes together) is
    ``learning_rate * global_batch_size / reference_batch_size``."""
    for name, value in (("global_batch_size", global_batch_size), ("reference_batch_size", reference_batch_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return float(learning_rate) * int(global_batch_size) / int(reference_batch_size)


def parse_lr_boundaries(value, argument="--lr_boundaries"):
    """``"90000,120000"`` (or a list of ints) -> ``[90000, 120000]``; None or "" -> None (the default drops).

    Raises InputError naming ``argument`` when an entry is not an integer >= 1 or the steps do not strictly
    increase. Steps past the end of a run are not an error here (the run warns and drops them)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    entries = value.split(",") if isinstance(value, str) else list(value)
    steps = []
    for entry in entries:
        text = entry.strip() if isinstance(entry, str) else entry
        if isinstance(text, str) and text.isdigit():
            step = int(text)
        elif isinstance(text, int) and not isinstance(text, bool):
            step = text
        else:
            step = None
        if step is None or step < 1:
            raise InputError(f"{argument} takes comma-separated integer steps >= 1, got {value!r} (entry {entry!r})")
        steps.append(step)
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise InputError(f"{argument} must strictly increase, got {value!r}")
    return steps


@keras.saving.register_keras_serializable(package="keras_centernet")
class WarmupPiecewiseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant learning rate with a linear warm-up (serializable; works on every backend).

    ``lr(step)``: ``values[i]`` for ``boundaries[i-1] <= step < boundaries[i]`` (a drop happens AT its
    boundary step), where ``values`` defaults to ``base_learning_rate * decay_factor ** i``. During the
    first ``warmup_steps`` steps the rate rises linearly from ``warmup_start_learning_rate`` to the
    piecewise value: ``start + (value - start) * step / warmup_steps``.

    The recipe on 8 devices x 8 images (what `make_learning_rate_schedule(1e-3, 64, [90000, 120000],
    warmup_steps=1000)` builds): ``WarmupPiecewiseSchedule(1e-3, [90000, 120000], decay_factor=0.1,
    warmup_steps=1000)``.

    Args:
        base_learning_rate: rate after warm-up, before the first boundary (already scaled: `scale_lr`).
        boundaries: increasing step numbers where the rate changes.
        values: explicit rates, ``len(boundaries) + 1``; overrides ``decay_factor``.
        decay_factor: multiplier applied at each boundary when ``values`` is None.
        warmup_steps: length of the linear warm-up (0: none).
        warmup_start_learning_rate: rate at step 0 (`make_learning_rate_schedule` uses 0).
    """

    def __init__(
        self,
        base_learning_rate,
        boundaries=(),
        values=None,
        decay_factor=0.1,
        warmup_steps=0,
        warmup_start_learning_rate=0.0,
        name="WarmupPiecewiseSchedule",
    ):
        super().__init__()
        boundaries = [int(b) for b in boundaries]
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, got {boundaries}")
        if values is None:
            base, factor = float(base_learning_rate), float(decay_factor)
            values = [base * factor**i for i in range(len(boundaries) + 1)]
        values = [float(v) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"values needs len(boundaries) + 1 = {len(boundaries) + 1} entries, got {len(values)}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.base_learning_rate = float(base_learning_rate)
        self.boundaries = boundaries
        self.values = values
        self.decay_factor = float(decay_factor)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start_learning_rate = float(warmup_start_learning_rate)
        self.name = name

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        rate = ops.convert_to_tensor(self.values[0], "float32")
        for boundary, value in zip(self.boundaries, self.values[1:]):
            rate = ops.where(step >= boundary, ops.convert_to_tensor(value, "float32"), rate)
        if self.warmup_steps > 0:
            start = ops.convert_to_tensor(self.warmup_start_learning_rate, "float32")
            fraction = ops.minimum(step / float(self.warmup_steps), 1.0)
            rate = ops.where(step < self.warmup_steps, start + (rate - start) * fraction, rate)
        return rate

    def value_at(self, step):
        """The rate at ``step`` as a Python float (for logs and tests)."""
        target = self.values[sum(1 for b in self.boundaries if step >= b)]
        if step < self.warmup_steps:
            start = self.warmup_start_learning_rate
            return start + (target - start) * step / self.warmup_steps
        return target

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "boundaries": list(self.boundaries),
            "values": list(self.values),
            "decay_factor": self.decay_factor,
            "warmup_steps": self.warmup_steps,
            "warmup_start_learning_rate": self.warmup_start_learning_rate,
            "name": self.name,
        }


def make_learning_rate_schedule(
    learning_rate,
    global_batch_size,
    boundaries=(),
    decay_factor=0.1,
    warmup_steps=0,
    reference_batch_size=REFERENCE_BATCH_SIZE,
):
    """The schedule `train()` uses, for ``global_batch_size`` images per optimizer step (`Runtime.global_batch_size`):

    peak ``scale_lr(learning_rate, global_batch_size, reference_batch_size)``, x``decay_factor`` at each step of
    ``boundaries`` (the rate at step ``b`` is already the dropped one), rising linearly from 0 at step 0 to the
    peak at ``warmup_steps``. Depends only on the global batch, not on how it is split over devices or processes.
    """
    peak = scale_lr(learning_rate, global_batch_size, reference_batch_size)
    return WarmupPiecewiseSchedule(
        peak,
        boundaries,
        decay_factor=decay_factor,
        warmup_steps=warmup_steps,
        warmup_start_learning_rate=0.0,
    )
