"""The README and the docs/ chapters stay true: every code block marked `<!-- runnable -->` (the marker line right
before a ```bash or ```python block) in README.md or docs/*.md runs as written on the tiny data it uses, every
relative markdown link resolves to an existing file (and heading, when it names one), and the README keeps its two
set-up-and-run commands first."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- runnable -->\n```(bash|python)\n(.*?)```", re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def markdown_files():
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def runnable_blocks():
    """[(file relative to the repository, index in that file, language, code)] in file order."""
    blocks = []
    for path in markdown_files():
        for index, (language, code) in enumerate(BLOCK.findall(path.read_text())):
            blocks.append((path.relative_to(ROOT).as_posix(), index, language, code))
    return blocks


def relative_links(path):
    """Link targets outside code blocks that are not URLs or in-page anchors, with their #fragment."""
    text = FENCE.sub("", path.read_text())
    return [target for target in LINK.findall(text) if not target.startswith("#") and not re.match(r"[a-z]+:", target)]


def anchors(path):
    """GitHub's heading anchors of a markdown file: lower case, punctuation dropped, spaces -> hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", path.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def link_is_broken(path, target):
    file_part, _, fragment = target.partition("#")
    linked = path.parent / file_part
    return not linked.exists() or bool(fragment) and linked.suffix == ".md" and fragment not in anchors(linked)


def test_readme_leads_with_the_two_commands_and_runnable_blocks_of_both_languages_exist():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert {language for _, _, language, _ in runnable_blocks()} == {"bash", "python"}
    assert any(name == "README.md" for name, _, _, _ in runnable_blocks())


def test_relative_links_point_to_existing_files():
    broken = [
        f"{path.relative_to(ROOT)}: {target}"
        for path in markdown_files()
        for target in relative_links(path)
        if link_is_broken(path, target)
    ]
    assert not broken, "broken relative links:\n" + "\n".join(broken)


def test_the_link_check_sees_links_and_skips_urls_anchors_and_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](docs/a.md#x) [b](https://x.org/b.md) [c](#here) `x`\n```\n[d](in_code.md)\n```\n")
    assert relative_links(page) == ["docs/a.md#x"]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n## The letterbox: how, and why\n")
    assert not link_is_broken(page, "docs/a.md#the-letterbox-how-and-why")
    assert link_is_broken(page, "docs/a.md#nowhere") and link_is_broken(page, "docs/b.md")


@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.parametrize(
    "name, index, language, code",
    runnable_blocks(),
    ids=[f"{name}-{index}-{language}" for name, index, language, _ in runnable_blocks()],
)
def test_runnable_block(name, index, language, code, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"{name} block {index} ({language}) failed:\n{code}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
