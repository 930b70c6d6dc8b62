"""Start-up time of `keras-centernet --version` and `--help` against `python -c pass`, measured in the same run.

Rows (each a fresh interpreter, rounds alternating between rows, median of --rounds):

  python -c pass                 the reference: interpreter start-up alone
  keras-centernet --version/...  the installed console script's module, keras_centernet_command (a lazy import of
                                 the package: no Keras until a command runs)
  import keras_centernet         for scale: a plain import registers every Keras class (imports Keras and its backend)

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
COMMAND = (
    "import sys; sys.argv = ['keras-centernet', *{argv!r}]; import keras_centernet_command\n"
    "try:\n    keras_centernet_command.main()\nexcept SystemExit:\n    pass\n"
)
REPORT = "import sys; print('TF' if 'tensorflow' in sys.modules else 'no TF', file=sys.stderr)"
ROWS = {
    "python -c pass": "pass",
    "keras-centernet --version": COMMAND.format(argv=["--version"]) + REPORT,
    "keras-centernet train --help": COMMAND.format(argv=["train", "--help"]) + REPORT,
    "import keras_centernet": "import keras_centernet\n" + REPORT,
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
    print(f"{'':28} {'seconds':>8} {'x python -c pass':>17}  imports")
    for name in ROWS:
        median = statistics.median(seconds[name])
        note = "" if name == "python -c pass" else imported[name]
        print(f"{name:28} {median:8.2f} {median / reference:17.1f}  {note}")
        if name.startswith("keras-centernet") and median > TARGET_SECONDS:
            missed.append(f"{name} {median:.2f} s")
    if missed:
        print(f"FAILED: over {TARGET_SECONDS:g} s: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
