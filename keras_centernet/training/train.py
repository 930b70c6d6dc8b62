"""`train(...)`: the whole training job behind `keras-centernet train` and examples/train_coco.py.

It composes named pieces (keras_centernet.training): the `TrainConfig` (config.py), the checks that run before
anything is built (checks.py), the run's numbers (plan.py: precision, epochs x steps, the learning-rate rule) and
the builders (builders.py: distribution runtime, training data, model, callbacks). Everything a run writes goes
under `model_dir`:

    model_dir/train_config.json         the TrainConfig of the run that trains here (chief; training.run_folder)
    model_dir/label_map.json            its dataset and classes: another dataset or model is refused
    model_dir/model.keras               final model (chief)
    model_dir/checkpoints/epoch_NNN.keras  the last --keep_checkpoints epochs (chief); best_val_AP.keras with
                                        --eval_every (its best restored from history.json on resume)
    model_dir/backup/rank_N/            resume state (state.json -> step_NNNNNNNNN.weights.h5), written at every
                                        epoch end, on SIGTERM and every --backup_every_minutes: rerunning resumes
                                        at its step
    model_dir/steps.csv                 the learning rate (and running loss) of every step, across resumes
    model_dir/logs/                     TensorBoard scalars when tensorboard is installed; profile/ traces;
                                        stderr.log (what the quiet start hides)
    model_dir/summary/summary.json      throughput and end-to-end time (use_performance)
    model_dir/history.json              per-epoch logs of every epoch, across resumes
    model_dir/.run.lock                 held by the live run (one run per model_dir)

Every file is written to a temporary name and renamed into place (keras_centernet.atomic_files), so `kill -9` at any
moment then the same command resumes; inputs are checked before the model is built (keras_centernet.validation).
"""

import os
import random

import keras

from keras_centernet import atomic_files
from keras_centernet.callbacks.backup import read_state
from keras_centernet.callbacks.checkpoint import BEST_CHECKPOINT, save_model, settle_pending_best
from keras_centernet.callbacks.history_file import read_history
from keras_centernet.training import builders
from keras_centernet.training.checks import check_config
from keras_centernet.training.config import HISTORY_FILE, MODEL_FILE, TrainConfig
from keras_centernet.training.disk_space import check_disk_space
from keras_centernet.training.plan import first_line, make_plan
from keras_centernet.training.run_folder import check_run_folder, write_run_folder
from keras_centernet.validation import InputError


def train(data_dir=None, model_dir=None, *, config=None, **keywords):
    """Trains a CenterNet on the converted dataset in `data_dir` and writes everything under `model_dir`.

    Either `train(data_dir, model_dir, batch_size=8, ...)` with the flat keyword names of `TrainConfig`'s fields,
    or `train(config=TrainConfig(...))` (data_dir, model_dir and keywords then override the config's).
    `batch_size` is per device (global batch = batch_size x devices). `learning_rate` is the Adam rate for a global
    batch of `lr_reference_batch` images; whatever the launcher (one device, MirroredStrategy, JAX DataParallel,
    Horovod) the run trains at learning_rate x global batch / lr_reference_batch, reached by a linear warm-up from 0
    over `warmup_steps`, x0.1 at each of `lr_boundaries` (steps, e.g. "90000,120000"; default: the recipe's 90k and
    120k of 140k scaled to the run's length, see `plan.lr_boundaries`). Returns the fitted model and its history
    dict. Exactly `num_train_steps` optimizer steps are trained (the last epoch shorter when `steps_per_epoch` does
    not divide them). Rerunning the same call after an interruption resumes at the step of its last backup (an
    epoch end, the step a SIGTERM came in, or the last `backup_every_minutes`) with the same data order; rerunning
    a finished run changes nothing. Raises InputError (before building anything) on bad arguments, data, a
    `model_dir` holding another configuration or too little free space; NonFiniteLossError when the loss or
    weights stop being finite; TrainingInterrupted after SIGTERM, once the backup is written.
    """
    config = _resolve_config(config, data_dir, model_dir, keywords)
    boundaries, num_records = check_config(config)
    from keras_centernet.run_lock import RunLock

    runtime = builders.build_runtime(config)
    lock = RunLock(config.data.model_dir).acquire() if runtime.is_chief else None
    try:
        return _run(config, runtime, boundaries, num_records)
    finally:
        if lock is not None:
            lock.release()


def _resolve_config(config, data_dir, model_dir, keywords):
    overrides = {name: value for name, value in (("data_dir", data_dir), ("model_dir", model_dir)) if value is not None}
    if config is None:
        return TrainConfig.from_keywords(**overrides, **keywords)
    return config.replace(**overrides, **keywords)


def _run(config, runtime, boundaries, num_records):
    """The job once the inputs are checked and the run lock is held: returns (model, history dict)."""
    model_dir, reports = config.data.model_dir, config.reports
    class_map = builders.build_class_map(config.data.data_dir)
    plan = make_plan(config, runtime, boundaries, num_records)
    keras.mixed_precision.set_global_policy(plan.policy)
    if config.schedule.seed is not None:
        keras.utils.set_random_seed(int(config.schedule.seed) + runtime.rank)
    say = print if runtime.is_chief and reports.verbose else (lambda *a, **k: None)
    _on_chief(runtime, lambda: check_run_folder(config, class_map))  # before anything is written
    # The chief's backup decides for every rank (a kill between two ranks' saves leaves them a step apart);
    # BroadcastGlobalVariablesCallback then gives every rank the chief's weights and optimizer state.
    chief_state = runtime.from_chief(read_state(_backup_dir(model_dir, 0)) if runtime.is_chief else None)
    finished = _finished(model_dir, chief_state, plan)
    if chief_state and not finished:
        step = _state_step(chief_state, plan)
        say(f"train: resuming at step {step} of {plan.total_steps} ({_position(plan, step)}) from "
            f"{_backup_dir(model_dir, 0)}")  # fmt: skip
    say(first_line(config, runtime, plan, len(class_map[0]), num_records))
    for line in plan.warnings:
        say(line)
    if runtime.is_chief:
        for folder in (model_dir, os.path.join(model_dir, "checkpoints"), os.path.join(model_dir, "summary")):
            atomic_files.remove_stale_temporaries(folder)  # what a killed run was writing
    if finished:
        say(
            f"train: {model_dir} already finished its {plan.total_steps} steps (model.keras): nothing to do; raise "
            "--epochs or --num_train_steps to train longer, or use a new --model_dir"
        )
        return keras.saving.load_model(os.path.join(model_dir, MODEL_FILE)), read_history(
            os.path.join(model_dir, HISTORY_FILE)
        )
    if runtime.is_chief:
        write_run_folder(config, class_map)
    backup = builders.build_backup(config, runtime, seed=runtime.from_chief(_data_seed(config, chief_state, say)))
    with runtime.scope():
        model = builders.build_model(config, runtime, class_map, plan, say)
        own_state = backup.restore(model, step=chief_state and _state_step(chief_state, plan))
    start_step = runtime.from_chief(_optimizer_step(model))
    _on_chief(runtime, lambda: _check_disk(config, runtime, plan, model, backup.files_kept))
    # Every rank at the chief's step with its own state: each keeps its BatchNorm statistics, as if never stopped.
    own_states = runtime.all_ranks(own_state is not None and _optimizer_step(model) == start_step)
    return model, _fit(config, runtime, plan, model, backup, start_step, broadcast_non_trainable=not own_states)


def _fit(config, runtime, plan, model, backup, start_step, broadcast_non_trainable):
    """`model.fit` over the plan's segments from `start_step`, with SIGTERM turned into a backup; then model.keras
    (chief). Returns the history of the epochs trained, all segments together."""
    from keras_centernet.callbacks.preemption import sigterm_requests

    history = {}
    if runtime.is_chief:  # a best checkpoint of an epoch the backup holds (a kill came before fit ended)
        settle_pending_best(os.path.join(config.data.model_dir, "checkpoints", BEST_CHECKPOINT),
                            start_step // plan.steps_per_epoch)  # fmt: skip
    with sigterm_requests() as sigterm:
        callbacks = builders.build_callbacks(config, runtime, plan, backup, start_step, sigterm,
                                             broadcast_non_trainable=broadcast_non_trainable)  # fmt: skip
        for segment in plan.segments(start_step):
            train_data = builders.build_train_data(config, runtime, backup.seed, segment.start_step)
            segment_history = model.fit(
                train_data, epochs=segment.epochs, initial_epoch=segment.initial_epoch,
                steps_per_epoch=segment.steps_per_epoch, callbacks=callbacks,
                shuffle=False,  # build_dataset shuffles
                verbose=_fit_verbose(config.reports.verbose, runtime.is_chief),
            )  # fmt: skip
            for key, values in segment_history.history.items():
                history.setdefault(key, []).extend(values)
    if runtime.is_chief:
        path = os.path.join(config.data.model_dir, MODEL_FILE)
        save_model(model, path)
        if config.reports.verbose:
            print(f"train: wrote {path}")
    return history


def _on_chief(runtime, check):
    """Runs `check()` on the chief; an InputError there is raised on every rank (none waits for the chief)."""
    message = None
    if runtime.is_chief:
        try:
            check()
        except InputError as error:
            message = str(error)
    message = runtime.from_chief(message)
    if message:
        raise InputError(message)


def _check_disk(config, runtime, plan, model, backup_files):
    """InputError when the disk of --model_dir cannot hold what the run keeps at its peak (training.disk_space)."""
    reports = config.reports
    check_disk_space(
        model, config.data.model_dir, keep_checkpoints=config.checkpoints.keep_checkpoints,
        keep_best=bool(reports.eval_every and reports.eval_every > 0), epochs=plan.epochs,
        backup_copies=runtime.size, backup_files=backup_files,  # every rank's backup/rank_N (a shared --model_dir)
    )  # fmt: skip


def _backup_dir(model_dir, rank):
    return os.path.join(model_dir, "backup", f"rank_{rank}")


def _data_seed(config, state, say):
    """The run's data seed: the one its backup recorded (a resumed run reads the data the interrupted run would
    have read), else --seed, else a new random one (recorded from here)."""
    seed = config.schedule.seed
    if state and state.get("seed") is not None:
        if seed is not None and int(seed) != int(state["seed"]):
            say(f"train: --seed {seed} differs from the run's data seed {state['seed']}: the data goes on with "
                f"{state['seed']} (use a new --model_dir for another order)")  # fmt: skip
        return int(state["seed"])
    return int(seed) if seed is not None else random.SystemRandom().randrange(2**31 - 1)


def _state_step(state, plan):
    step = state.get("step")  # states written before steps were recorded: whole epochs
    return int(step) if step is not None else int(state["epoch"]) * plan.steps_per_epoch


def _optimizer_step(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _position(plan, step):
    epoch, done = divmod(step, plan.steps_per_epoch)
    return f"after epoch {epoch}" if not done else f"epoch {epoch + 1}, after {done} of its steps"


def _fit_verbose(verbose, is_chief):
    from keras_centernet.distribution import chief_verbose

    return chief_verbose(2 if verbose else 0, is_chief)


def _finished(model_dir, state, plan):
    """True when `model_dir` holds a run that already trained the plan's steps (its model.keras was written)."""
    if not state or not os.path.isfile(os.path.join(model_dir, MODEL_FILE)):
        return False
    return _state_step(state, plan) >= plan.total_steps
