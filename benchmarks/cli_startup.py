"""Start-up time of `keras-centernet --version` and `--help` against `python -c pass`, measured in the same run.

Rows (each a fresh interpreter, rounds alternating between rows, median of --rounds):

  python -c pass                 the reference: interpreter start-up alone
  entry point --version / --help `python -m keras_centernet ...`, what the installed `keras-centernet` runs
  cli only --version / --help    the same `cli.main`, with keras_centernet/__init__.py skipped (its eager Keras
                                 import is the one cost outside the CLI's own modules)

Prints seconds, the ratio to `python -c pass` and whether TensorFlow was imported; target: the entry point's
--version and --help under 1 s (prints FAILED and exits 1 when missed).

    PYTHONPATH=. python benchmarks/cli_startup.py [--rounds 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

TARGET_SECONDS = 1.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_INIT = (
    "import sys, types; package = types.ModuleType('keras_centernet'); "
    f"package.__path__ = [{os.path.join(ROOT, 'keras_centernet')!r}]; sys.modules['keras_centernet'] = package; "
)
RUN = "from keras_centernet.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
REPORT = "import sys; print('TF' if 'tensorflow' in sys.modules else 'no TF', file=sys.stderr)"
ROWS = {
    "python -c pass": "pass",
    "entry point --version": f"import runpy, sys; sys.argv = ['keras-centernet', '--version']\n"
    f"try:\n    runpy.run_module('keras_centernet')\nexcept SystemExit:\n    pass\n{REPORT}",
    "entry point train --help": f"{RUN.format(argv=['train', '--help'])}{REPORT}",
    "cli only --version": f"{NO_INIT}\n{RUN.format(argv=['--version'])}{REPORT}",
    "cli only train --help": f"{NO_INIT}\n{RUN.format(argv=['train', '--help'])}{REPORT}",
}


def _time(code):
    """(seconds, last stderr line) of a fresh `python -c code`."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    lines = result.stderr.strip().splitlines()
    return time.perf_counter() - start, lines[-1] if lines else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    seconds, imported = {name: [] for name in ROWS}, {}
    for _ in range(rounds):
        for name, code in ROWS.items():
            elapsed, imported[name] = _time(code)
            seconds[name].append(elapsed)
    reference = statistics.median(seconds["python -c pass"])
    missed = []
    print(f"{'':26} {'seconds':>8} {'x python -c pass':>17}  imports")
    for name in ROWS:
        median = statistics.median(seconds[name])
        note = "" if name == "python -c pass" else imported[name]
        print(f"{name:26} {median:8.2f} {median / reference:17.1f}  {note}")
        if name.startswith("entry point") and median > TARGET_SECONDS:
            missed.append(f"{name} {median:.2f} s")
    if missed:
        print(f"FAILED: over {TARGET_SECONDS:g} s: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
