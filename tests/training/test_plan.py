"""RunPlan: epochs of steps_per_epoch with a shorter last epoch, and the model.fit segments of a (resumed) run."""

import pytest

from keras_centernet.training.plan import RunPlan, Segment, plan_steps

pytestmark = pytest.mark.timeout(60)  # a segment plan that stops advancing loops forever: fail fast


def _plan(total_steps, steps_per_epoch):
    epochs, steps_per_epoch, total = plan_steps(total_steps, 1, steps_per_epoch, 100, 4)
    return RunPlan("float32", 4, epochs, steps_per_epoch, total, (), 1e-3, ())


def _steps(segments):
    """Every optimizer step the segments train, with the 0-based epoch each belongs to."""
    steps = []
    for segment in segments:
        step = segment.start_step
        for epoch in range(segment.initial_epoch, segment.epochs):
            for _ in range(segment.steps_per_epoch):
                steps.append((step, epoch))
                step += 1
    return steps


@pytest.mark.parametrize("total, per_epoch", [(25, 10), (30, 10), (7, 7), (1, 5), (280, 2), (13, 4)])
def test_segments_train_every_step_once_in_its_own_epoch_from_any_start(total, per_epoch):
    plan = _plan(total, per_epoch)
    assert plan.total_steps == total and plan.epochs == -(-total // per_epoch)
    for start in range(total + 1):
        steps = _steps(plan.segments(start))
        assert steps == [(step, step // per_epoch) for step in range(start, total)], start
        assert len(plan.segments(start)) <= 3


def test_25_steps_of_10_are_two_full_epochs_and_one_of_five():
    plan = _plan(25, 10)
    assert plan.segments(0) == [Segment(0, 2, 10, 0), Segment(2, 3, 5, 20)]
    assert plan.segments(13) == [Segment(1, 2, 7, 13), Segment(2, 3, 5, 20)]
    assert plan.segments(20) == [Segment(2, 3, 5, 20)] and plan.segments(25) == []
    assert plan.last_epoch_steps == 5 and plan.epoch_end_step(2) == 25 and plan.epoch_end_step(0) == 10
