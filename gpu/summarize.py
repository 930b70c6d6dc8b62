"""Reads the RESULT lines of gpu/run.sh and prints our images/s against each reference with the target ratios;
exits 1 when a target is missed (or our RESULT line is missing).

    python gpu/summarize.py results.txt
"""

import json
import sys

OURS = "keras-centernet-jax"
TARGETS = {"torch-compile": 1.15, "torch": 1.3, "keras-jax": None}  # ours / reference must reach these


def main(path):
    results = []
    with open(path) as handle:
        for line in handle:
            if line.startswith("RESULT "):
                results.append(json.loads(line[len("RESULT ") :]))
    ours = [r for r in results if r["fw"] == OURS]
    if not ours:
        print(f"no {OURS} RESULT line in {path}")
        return 1
    mine = ours[-1]
    setup = f"{mine['arch']}, {mine['prec']}, batch {mine['batch']}"
    print(f"ours ({setup}): {mine['img_per_s']} img/s on {mine['devices']}")
    missed = []
    for reference in results:
        if reference["fw"] == OURS:
            continue
        ratio = mine["img_per_s"] / reference["img_per_s"]
        target = TARGETS.get(reference["fw"])
        verdict = "" if target is None else f" (target >= {target}: {'met' if ratio >= target else 'NOT met'})"
        missed += [reference["fw"]] if target is not None and ratio < target else []
        print(
            f"  vs {reference['fw']} {reference['prec']} batch {reference['batch']}: {reference['img_per_s']} img/s,"
            f" ratio {ratio:.3f}{verdict}"
        )
    if missed:
        print(f"FAILED: target not met against {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "results.txt"))
