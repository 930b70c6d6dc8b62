"""Crash-safe writes: the previous complete file survives a failed or killed write."""

import json
import os
import subprocess
import sys

import pytest

from keras_centernet import atomic_files


def test_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "history.json"
    atomic_files.write_json(str(path), {"loss": [1.5]})
    atomic_files.write_json(str(path), {"loss": [1.5, 0.5]})
    assert json.loads(path.read_text()) == {"loss": [1.5, 0.5]}
    assert os.listdir(tmp_path) == ["history.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "state.json"
    atomic_files.write_json(str(path), {"epoch": 3})
    with pytest.raises(RuntimeError), atomic_files.atomic_path(str(path)) as temporary:
        with open(temporary, "w") as file:
            file.write('{"epoch": ')  # half written when the writer fails
        raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"epoch": 3}
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_killed_writer_leaves_the_previous_file_and_its_temporary_is_cleaned(tmp_path):
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"complete")
    script = (
        "import os, signal, sys\n"
        "from keras_centernet import atomic_files\n"
        "with atomic_files.atomic_path(sys.argv[1]) as temporary:\n"
        "    open(temporary, 'wb').write(b'partial')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], timeout=120)
    leftovers = [name for name in os.listdir(tmp_path) if name != "model.weights.h5"]
    assert path.read_bytes() == b"complete"
    assert len(leftovers) == 1 and leftovers[0].endswith(".weights.h5"), leftovers  # Keras needs the suffix
    atomic_files.remove_stale_temporaries(str(tmp_path))
    assert os.listdir(tmp_path) == ["model.weights.h5"]


def test_stale_temporaries_of_a_live_writer_are_kept(tmp_path):
    live = tmp_path / f".a.json.tmp-{os.getpid()}-0.json"
    live.write_text("{}")
    atomic_files.remove_stale_temporaries(str(tmp_path))
    assert live.exists()
