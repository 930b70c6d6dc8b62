"""Every README code block marked `<!-- runnable -->` runs as written (on the tiny data it uses), so the docs cannot
drift from the code. Also checks the README keeps its two set-up-and-run commands first."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- runnable -->\n```(bash|python)\n(.*?)```", re.S)


def runnable_blocks():
    return [(language, code) for language, code in BLOCK.findall(README.read_text())]


def test_readme_marks_runnable_blocks_and_leads_with_the_two_commands():
    text = README.read_text()
    assert {language for language, _ in runnable_blocks()} == {"bash", "python"}
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.parametrize("index", range(len(runnable_blocks())))
def test_runnable_readme_block(index, tmp_path):
    language, code = runnable_blocks()[index]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"README block {index} ({language}) failed:\n{code}\n{result.stdout[-2000:]}\n" \
        f"{result.stderr[-4000:]}"
