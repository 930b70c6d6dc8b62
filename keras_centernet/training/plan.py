"""The run's numbers, fixed before the model is built: dtype policy, epochs x steps, the learning-rate rule.

`learning_rate` is stated for a global batch of `lr_reference_batch` images and scaled linearly to the run's
global batch (whatever the launcher); x0.1 drops at `lr_boundaries`, by default the recipe's 90k and 120k of 140k
steps scaled to the run's length.
"""

import dataclasses
import math

from keras_centernet.validation import InputError

RECIPE_STEPS = 140000
RECIPE_LR_BOUNDARIES = (90000, 120000)  # the recipe's x0.1 drops, in steps of its 140k-step run
LR_DROPS = tuple(b / RECIPE_STEPS for b in RECIPE_LR_BOUNDARIES)  # the same as fractions of a run (0.643, 0.857)


def precision_policy(use_amp, amp_dtype="auto", use_gpu=True):
    """The Keras dtype policy name: float32, or mixed_float16 (GPUs, MLUs: loss scaling) / mixed_bfloat16 (CPUs,
    TPUs, Hopper) for use_amp. amp_dtype "auto" picks float16 when a GPU is visible, else bfloat16."""
    if not use_amp:
        return "float32"
    if amp_dtype in ("float16", "bfloat16"):
        return f"mixed_{amp_dtype}"
    if amp_dtype != "auto":
        raise ValueError(f"amp_dtype={amp_dtype!r}: expected auto, float16 or bfloat16")
    from keras_centernet.distribution import num_accelerators

    return "mixed_float16" if use_gpu and num_accelerators() > 0 else "mixed_bfloat16"


def plan_steps(num_train_steps, epochs, steps_per_epoch, num_train_images, global_batch_size):
    """(epochs, steps_per_epoch, total_steps) from the user's choice: a total step count (num_train_steps > 0)
    split into epochs of steps_per_epoch (the last one shorter when it does not divide), or whole epochs over the
    training set."""
    if num_train_steps and num_train_steps > 0:
        steps_per_epoch = int(steps_per_epoch or min(num_train_steps, 1000))
        epochs = math.ceil(num_train_steps / steps_per_epoch)
        return epochs, steps_per_epoch, int(num_train_steps)
    if not epochs or epochs < 1:
        raise InputError("set --num_train_steps > 0 or --epochs >= 1")
    if not steps_per_epoch:
        steps_per_epoch = num_train_images // global_batch_size
        if steps_per_epoch < 1:
            raise InputError(
                f"the training set has {num_train_images} images, fewer than one global batch of "
                f"{global_batch_size}: lower --batch_size or set --steps_per_epoch"
            )
    return int(epochs), int(steps_per_epoch), int(epochs) * int(steps_per_epoch)


def lr_boundaries(total_steps, boundaries=None, warn=None):
    """Steps where the learning rate drops x0.1; the rate at step `b` is already the dropped one.

    `boundaries` None: the recipe's 90000 and 120000 of 140000 scaled to the run, `round(total_steps * 90000 /
    140000)` and `round(total_steps * 120000 / 140000)` (a 140k run drops at exactly 90000 and 120000), keeping
    those inside the run (0 < step < total_steps) once each, so runs of 1, 2 or 3 steps get 0, 1 or 1 drops.
    Explicit `boundaries` (increasing steps, see `schedules.parse_lr_boundaries`) are kept as given; those at or
    past the end of the run are dropped with one `warn` line each.
    """
    total_steps = int(total_steps)
    if boundaries is None:
        scaled = {round(total_steps * b / RECIPE_STEPS) for b in RECIPE_LR_BOUNDARIES}
        return sorted(step for step in scaled if 0 < step < total_steps)
    late = [int(b) for b in boundaries if int(b) >= total_steps]
    if late and warn is not None:
        warn(
            f"train: warning: --lr_boundaries {','.join(map(str, late))} >= the run's {total_steps} steps: "
            "no drop there"
        )
    return [int(b) for b in boundaries if 0 < int(b) < total_steps]


@dataclasses.dataclass(frozen=True)
class Segment:
    """One `model.fit` call of a run: epochs initial_epoch..epochs-1 of steps_per_epoch steps each, starting at
    optimizer step start_step."""

    initial_epoch: int
    epochs: int
    steps_per_epoch: int
    start_step: int


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What a run does, as numbers: policy name, global batch (images per step over all devices), epochs x
    steps_per_epoch = total_steps, drop steps, peak learning rate, and the warning lines printed after the first."""

    policy: str
    global_batch: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    drops: tuple
    peak_learning_rate: float
    warnings: tuple

    @property
    def last_epoch_steps(self):
        """Steps of the last epoch: steps_per_epoch, or fewer when it does not divide total_steps."""
        return self.total_steps - (self.epochs - 1) * self.steps_per_epoch

    def epoch_end_step(self, epoch):
        """The optimizer step at which 0-based `epoch` ends (the run's end for the last, shorter epoch)."""
        return min((epoch + 1) * self.steps_per_epoch, self.total_steps)

    def segments(self, start_step=0):
        """The `model.fit` calls that train steps start_step..total_steps in whole epochs: a resumed run first ends
        the epoch it was stopped in, then runs the full epochs, then the shorter last epoch, each a `Segment`."""
        segments, step = [], int(start_step)
        while step < self.total_steps:
            epoch = step // self.steps_per_epoch
            end = self.epoch_end_step(epoch)
            if step == epoch * self.steps_per_epoch and end - step == self.steps_per_epoch:
                full_epochs = self.total_steps // self.steps_per_epoch  # the run of whole epochs from here
                segments.append(Segment(epoch, full_epochs, self.steps_per_epoch, step))
                step = full_epochs * self.steps_per_epoch
            else:
                segments.append(Segment(epoch, epoch + 1, end - step, step))
                step = end
        return segments


def make_plan(config, runtime, boundaries, num_records):
    """The RunPlan of `config` under `runtime`; `boundaries` as parsed by `checks.check_config`."""
    from keras_centernet.schedules import scale_lr

    schedule, hardware = config.schedule, config.hardware
    global_batch = runtime.global_batch_size(schedule.batch_size)
    epochs, steps_per_epoch, total_steps = plan_steps(
        schedule.num_train_steps, schedule.epochs, schedule.steps_per_epoch, num_records, global_batch
    )
    warnings = []  # printed after the first line
    drops = lr_boundaries(total_steps, boundaries, warn=warnings.append)
    if schedule.warmup_steps and schedule.warmup_steps >= total_steps:
        warnings.append(
            f"train: warning: --warmup_steps {schedule.warmup_steps} >= the run's {total_steps} steps: "
            "the learning rate never reaches its peak"
        )
    return RunPlan(
        policy=precision_policy(hardware.use_amp, hardware.amp_dtype, hardware.use_gpu),
        global_batch=global_batch, epochs=epochs, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
        drops=tuple(drops), peak_learning_rate=scale_lr(schedule.learning_rate, global_batch,
                                                        schedule.lr_reference_batch),
        warnings=tuple(warnings),
    )  # fmt: skip


def first_line(config, runtime, plan, num_classes, num_records):
    """The line every run prints first: launcher, devices, policy, batch, steps, and the learning-rate rule."""
    schedule = config.schedule
    last = f" (the last {plan.last_epoch_steps})" if plan.last_epoch_steps != plan.steps_per_epoch else ""
    return (
        f"train: {runtime.strategy_name} on {runtime.num_devices} device(s), {plan.policy}, global batch "
        f"{plan.global_batch}, {plan.epochs} epoch(s) of {plan.steps_per_epoch} steps{last} = {plan.total_steps} "
        "steps, "
        f"{num_classes} classes, {num_records} training images, learning rate {plan.peak_learning_rate:.6g} "
        f"(= {schedule.learning_rate:g} x {plan.global_batch} / {schedule.lr_reference_batch}), x0.1 at steps "
        f"{','.join(map(str, plan.drops)) or 'none'}"
    )
