"""`make mutation`: plant each listed mutant (mutation/mutants.py) in a copy of the package, run the tests that
should catch it, and write the kill rate and every survivor to docs/mutation.md.

    python -m mutation.run [--only ID ...] [--report docs/mutation.md]

A mutant is killed when its tests fail (exit 1), survives when they pass. Each test selection first runs once on the
unmutated copy and must pass, so a kill is the mutant's doing. Exit status 1 when fewer than 90% of the
non-equivalent mutants are killed. Not in CI: ~25 min on 2 cores.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from mutation.mutants import MUTANTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_KILL_RATE = 0.9
_IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "runs", "demo_output", "build")


def run_tests(copy, tests, timeout=900):
    """Exit status of pytest on `tests` inside `copy` (its package shadows the installed one)."""
    env = dict(os.environ, PYTHONPATH=copy, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        return subprocess.run(command, cwd=copy, env=env, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return "timeout"


def check_baselines(copy, mutants):
    """Every test selection passes on the unmutated copy (and imports the copy's package)."""
    probe = subprocess.run([sys.executable, "-c", "import keras_centernet; print(keras_centernet.__file__)"],
                           cwd=copy, env=dict(os.environ, PYTHONPATH=copy), capture_output=True, text=True)  # fmt: skip
    assert probe.stdout.startswith(copy), f"the copy's package is not the one imported: {probe.stdout}"
    for tests in sorted({tuple(m.tests) for m in mutants}):
        status = run_tests(copy, tests)
        if status != 0:
            raise SystemExit(f"mutation: baseline failed (exit {status}) for {' '.join(tests)}: fix the tests first")


def plant(copy, mutant):
    """Writes the mutated file into `copy`; returns the original text to restore."""
    path = os.path.join(copy, mutant.file)
    with open(path) as file:
        original = file.read()
    if original.count(mutant.old) != 1:
        raise SystemExit(f"mutation {mutant.id}: {mutant.old!r} occurs {original.count(mutant.old)} times in "
                         f"{mutant.file} (expected once): update mutation/mutants.py")  # fmt: skip
    with open(path, "w") as file:
        file.write(original.replace(mutant.old, mutant.new))
    return original


def run_mutant(copy, mutant):
    original = plant(copy, mutant)
    start = time.perf_counter()
    try:
        status = run_tests(copy, mutant.tests)
    finally:
        with open(os.path.join(copy, mutant.file), "w") as file:
            file.write(original)
    outcome = "survived" if status == 0 else "killed"
    print(f"{mutant.id:28s} {outcome:8s} (exit {status}, {time.perf_counter() - start:.0f} s)", flush=True)
    return outcome


def kill_rate(outcomes):
    """(killed, counted, rate) over the mutants that are not equivalent."""
    counted = [m for m in MUTANTS if m.id in outcomes and not m.equivalent]
    killed = sum(outcomes[m.id] == "killed" for m in counted)
    return killed, len(counted), killed / max(len(counted), 1)


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(path, outcomes, seconds):
    killed, counted, rate = kill_rate(outcomes)
    lines = [
        "# Mutation testing", "",
        "`make mutation` (mutation/run.py) plants each mutant of mutation/mutants.py in a copy of the package and "
        "runs the tests listed for it; the tests must fail. Equivalent mutants (same behaviour, no test can fail) "
        "are listed with the reason and left out of the rate.", "",
        f"**{killed} of {counted} non-equivalent mutants killed ({rate:.0%}; target {TARGET_KILL_RATE:.0%})**, "
        f"{len(outcomes)} run in {seconds / 60:.0f} min.", "",
        "| mutant | file | change | result | note |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for mutant in MUTANTS:
        if mutant.id in outcomes:
            note = mutant.equivalent or ("" if outcomes[mutant.id] == "killed" else mutant.survivor_note)
            change = f"`{_cell(mutant.old.strip())}` -> `{_cell(mutant.new.strip()) or '(removed)'}`"
            lines.append(f"| {mutant.id} | {mutant.file} | {change} | {outcomes[mutant.id]} | {_cell(note)} |")
    with open(path + ".tmp", "w") as file:
        file.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="mutant ids to run (default: all)")
    parser.add_argument("--report", default=os.path.join(ROOT, "docs", "mutation.md"))
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or m.id in args.only]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutation-") as folder:
        copy = os.path.join(folder, "repo")
        shutil.copytree(ROOT, copy, ignore=_IGNORED)
        check_baselines(copy, mutants)
        outcomes = {m.id: run_mutant(copy, m) for m in mutants}
    killed, counted, rate = kill_rate(outcomes)
    print(f"mutation: {killed} of {counted} non-equivalent mutants killed ({rate:.0%})")
    if not args.only:
        write_report(args.report, outcomes, time.perf_counter() - start)
        print(f"mutation: wrote {args.report}")
    return 0 if rate >= TARGET_KILL_RATE else 1


if __name__ == "__main__":
    sys.exit(main())
