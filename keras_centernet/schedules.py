"""Learning-rate schedules: piecewise-constant drops with a linear warm-up, scaled by the number of devices."""

import keras


def scale_lr(learning_rate, world_size):
    """Linear scaling rule (Goyal et al. 2017): the learning rate for ``world_size`` devices, each with
    the per-device batch the single-device ``learning_rate`` was tuned for: ``learning_rate * world_size``.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    return float(learning_rate) * int(world_size)


@keras.saving.register_keras_serializable(package="keras_centernet")
class WarmupPiecewiseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant learning rate with a linear warm-up (serializable; works on every backend).

    ``lr(step)``: ``values[i]`` for ``boundaries[i-1] <= step < boundaries[i]`` (a drop happens AT its
    boundary step), where ``values`` defaults to ``base_learning_rate * decay_factor ** i``. During the
    first ``warmup_steps`` steps the rate rises linearly from ``warmup_start_learning_rate`` to the
    piecewise value: ``start + (value - start) * step / warmup_steps``.

    Seed recipe on 8 devices: ``WarmupPiecewiseSchedule(scale_lr(1.25e-4, 8), [90000, 120000],
    decay_factor=0.1, warmup_steps=1000, warmup_start_learning_rate=1.25e-4)``.

    Args:
        base_learning_rate: rate after warm-up, before the first boundary (already scaled by world size).
        boundaries: increasing step numbers where the rate changes.
        values: explicit rates, ``len(boundaries) + 1``; overrides ``decay_factor``.
        decay_factor: multiplier applied at each boundary when ``values`` is None.
        warmup_steps: length of the linear warm-up (0: none).
        warmup_start_learning_rate: rate at step 0 (Horovod convention: the unscaled single-device rate).
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


def make_learning_rate_schedule(learning_rate, world_size=1, boundaries=(), decay_factor=0.1, warmup_steps=0):
    """The scaled schedule a training command uses: peak ``scale_lr(learning_rate, world_size)``,
    warming up linearly from the single-device ``learning_rate`` (from 0 when world_size is 1)."""
    peak = scale_lr(learning_rate, world_size)
    start = float(learning_rate) if world_size > 1 else 0.0
    return WarmupPiecewiseSchedule(
        peak,
        boundaries,
        decay_factor=decay_factor,
        warmup_steps=warmup_steps,
        warmup_start_learning_rate=start,
    )
