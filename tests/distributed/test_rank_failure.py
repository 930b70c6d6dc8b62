"""A rank killed with SIGKILL in the middle of a Horovod run, then the same command again.

`horovodrun --gloo -np 2 -H localhost:2 keras-centernet train --use_horovod` on a tiny model: once every rank has
saved its first epoch (rank 0's epoch line, then rank N's own `backup/rank_N/state.json`), one rank's process gets
SIGKILL. horovodrun must exit non-zero within KILL_EXIT_BOUND_S: it sees the rank's non-zero exit and terminates the
others (measured 0.8-1.0 s on 2 CPU cores, killing rank 0 or rank 1). A rank that hangs instead of dying (SIGSTOP,
a lost host) is bounded by --gloo-timeout-seconds: the survivors' Gloo receive times out, they exit, and horovodrun
follows (measured 45.6 s with 30 s). The same command then resumes every rank from its backup and ends with
bit-identical weights on both ranks and optimizer iterations == epochs x steps_per_epoch. About 100 s per case.
"""

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from tests.distributed.rank_state import (
    check_ranks_identical,
    horovodrun_path,
    rank_env,
    rank_pid,
    read_state,
    tiny_train_flags,
    wait_for,
)

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.tensorflow]

EPOCHS, STEPS_PER_EPOCH = 3, 8
KILL_EXIT_BOUND_S = 120  # horovodrun's exit after a rank's SIGKILL (docs: README "Scaling", Launching)
GLOO_TIMEOUT_S = 30  # what the run scripts pass as --gloo-timeout-seconds
EPOCH_LINE = re.compile(r"^\[0\]<stdout>:\s*\d+/\d+ - ")  # rank 0's end-of-epoch line (verbose 2)


def launch(data_dir, model_dir):
    command = [horovodrun_path(), "--gloo", "-np", "2", "-H", "localhost:2", "--gloo-timeout-seconds",
               str(GLOO_TIMEOUT_S), "keras-centernet", "train", "--use_horovod", "--data_dir", str(data_dir),
               "--model_dir", model_dir, *tiny_train_flags(EPOCHS, STEPS_PER_EPOCH)]  # fmt: skip
    return subprocess.Popen(
        command, env=rank_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def finish(process, timeout):
    """Waits for the process (killing its session on timeout); returns (returncode, output)."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"did not finish in {timeout} s:\n{output[-4000:]}") from None
    return process.returncode, output


@pytest.mark.parametrize("victim", [1, 0])
def test_sigkill_of_a_rank_ends_the_job_then_the_same_command_resumes(victim, tiny_records, tmp_path):
    model_dir = str(tmp_path / "model")
    process = launch(tiny_records, model_dir)
    lines = []
    first_epoch = threading.Event()

    def read_output():
        for line in process.stdout:
            lines.append(line)
            if EPOCH_LINE.match(line):
                first_epoch.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        assert first_epoch.wait(300), "no epoch line from rank 0:\n" + "".join(lines[-60:])
        # Timing (issue 18 audit): the kill must land before the ranks finish the other EPOCHS - 1 epochs
        # (2 x STEPS_PER_EPOCH steps, their backups and the final save). The pid is looked up first, so the kill
        # follows the backup within one 0.05 s poll. On a machine fast enough to do all that in ~0.05 s the run
        # ends first and the test fails (a rank saved every epoch): raise STEPS_PER_EPOCH there (a pause hook in
        # the ranks would make it independent of speed).
        pid = wait_for(lambda: rank_pid(model_dir, victim), 10, f"rank {victim}'s pid")
        # Both ranks have saved epoch 1 (the victim's own file, written by the victim itself).
        wait_for(lambda: (read_state(model_dir, victim) or {}).get("epoch", 0) >= 1, 60, f"rank {victim}'s backup")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        returncode = process.wait(timeout=KILL_EXIT_BOUND_S + 60)
        exit_time = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(10)
    output = "".join(lines)
    print(f"rank {victim} SIGKILLed: horovodrun exited {returncode} after {exit_time:.2f} s")
    assert returncode != 0, output[-4000:]
    assert exit_time < KILL_EXIT_BOUND_S, output[-4000:]
    assert "train: wrote" not in output  # the run did not finish
    assert rank_pid(model_dir, 1 - victim) is None, "the surviving rank is still running"
    saved = [read_state(model_dir, rank)["epoch"] for rank in (0, 1)]
    assert 1 <= min(saved) and max(saved) < EPOCHS, saved

    # The same command resumes every rank from its own backup and finishes the run.
    start = time.monotonic()
    returncode, output = finish(launch(tiny_records, model_dir), 600)
    assert returncode == 0, output[-6000:]
    assert re.search(r"train: resuming at step \d+ of \d+ \(after epoch \d+\) from", output), output[-4000:]
    assert "train: wrote" in output
    num_arrays, iterations, checksum = check_ranks_identical(model_dir, 2, EPOCHS, STEPS_PER_EPOCH)
    print(
        f"resumed run: {time.monotonic() - start:.1f} s, {num_arrays} arrays identical on both ranks, "
        f"{iterations} optimizer steps, sha256 {checksum}, epochs saved at the kill {saved}"
    )
