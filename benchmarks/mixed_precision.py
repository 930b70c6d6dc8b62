"""Mixed-precision parity: COCO AP of float32, mixed_bfloat16 and mixed_float16 at the same seeds and steps.

Trains the fixed synthetic-set run of `keras_centernet.training.synthetic` under each policy and each seed
(at least two: one seed's float32 AP moves ~0.02 between seeds, so a single-seed comparison is at noise level), in one
process, and prints AP / AP50 per seed and the MEAN difference to float32 over the seeds. Target: |mean delta AP| <=
0.01 for every policy (the vendor recipe lost 5 mAP points with AMP); the exit status is 1 when a policy misses it.
On CPUs run it with KERAS_BACKEND=jax: XLA computes float16 at float32 speed there, while TensorFlow's CPU float16
kernels are emulated (~12x slower).

    KERAS_BACKEND=jax python benchmarks/mixed_precision.py [--policies float32 mixed_bfloat16] [--seeds 1 2]
"""

import argparse
import statistics
import sys
import time

import keras

from keras_centernet import atomic_files
from keras_centernet.training.synthetic import synthetic_train_and_test_sets, train_and_evaluate_synthetic

TARGET_DELTA_AP = 0.01


def run_policy(policy, sets, epochs, seed):
    """{"AP", "AP50", "final_loss", "seconds"} of one policy at one seed."""
    start = time.perf_counter()
    history, metrics = train_and_evaluate_synthetic(policy, sets, epochs=epochs, seed=seed)
    result = {"AP": metrics["AP"], "AP50": metrics["AP50"], "final_loss": history["loss"][-1],
              "seconds": time.perf_counter() - start}  # fmt: skip
    print(f"seed {seed} {policy:>15}: AP {result['AP']:.4f}  AP50 {result['AP50']:.4f}  "
          f"loss {result['final_loss']:.4f}  ({result['seconds']:.0f} s)", flush=True)  # fmt: skip
    return result


def mean_deltas(results, seeds):
    """{policy: (mean delta AP, mean delta AP50)} against float32 over `seeds`."""
    deltas = {}
    for policy in results:
        if policy != "float32":
            ap = [results[policy][s]["AP"] - results["float32"][s]["AP"] for s in seeds]
            ap50 = [results[policy][s]["AP50"] - results["float32"][s]["AP50"] for s in seeds]
            deltas[policy] = (statistics.mean(ap), statistics.mean(ap50))
    return deltas


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="weights/shuffle seeds (>= 2)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if len(set(args.seeds)) < 2 or "float32" not in args.policies:
        parser.error("the parity needs float32 among --policies and at least two distinct --seeds")
    sets = synthetic_train_and_test_sets()
    results = {policy: {seed: run_policy(policy, sets, args.epochs, seed) for seed in args.seeds}
               for policy in args.policies}  # fmt: skip
    missed = []
    for policy, (delta_ap, delta_ap50) in mean_deltas(results, args.seeds).items():
        verdict = "OK" if abs(delta_ap) <= TARGET_DELTA_AP else f"MISSED the target |delta| <= {TARGET_DELTA_AP}"
        missed += [policy] if abs(delta_ap) > TARGET_DELTA_AP else []
        print(f"{policy:>15}: mean delta AP vs float32 over seeds {args.seeds}: {delta_ap:+.4f} ({verdict}), "
              f"mean delta AP50 {delta_ap50:+.4f}")
    print(f"backend: {keras.backend.backend()}")
    if args.json:
        atomic_files.write_json(args.json, {"backend": keras.backend.backend(), "seeds": args.seeds,
                                            "results": results, "target_delta_ap": TARGET_DELTA_AP})  # fmt: skip
    if missed:
        print(f"mixed_precision: FAILED: {', '.join(missed)} missed the target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
