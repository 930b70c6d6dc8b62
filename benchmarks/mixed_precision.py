"""Mixed-precision parity: COCO AP of float32, mixed_bfloat16 and mixed_float16 at the same seeds and steps.

Trains the fixed synthetic-set run of `keras_centernet.evaluation.synthetic_training` under each policy, in one
process, and prints AP / AP50 and the difference to float32 (target: |delta AP| <= 0.01; the vendor recipe lost 5 mAP
points with AMP). On CPUs run it with KERAS_BACKEND=jax: XLA computes float16 at float32 speed there, while
TensorFlow's CPU float16 kernels are emulated (~12x slower).

    KERAS_BACKEND=jax python benchmarks/mixed_precision.py [--policies float32 mixed_bfloat16 mixed_float16]
"""

import argparse
import json
import time

import keras

from keras_centernet.evaluation.synthetic_training import synthetic_train_and_test_sets, train_and_evaluate_synthetic


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1, help="weights/shuffle seed (run two to see seed noise)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    sets = synthetic_train_and_test_sets()
    results = {}
    for policy in args.policies:
        start = time.perf_counter()
        history, metrics = train_and_evaluate_synthetic(policy, sets, epochs=args.epochs, seed=args.seed)
        results[policy] = {
            "AP": metrics["AP"],
            "AP50": metrics["AP50"],
            "final_loss": history["loss"][-1],
            "seconds": time.perf_counter() - start,
        }
        print(f"{policy:>15}: AP {metrics['AP']:.4f}  AP50 {metrics['AP50']:.4f}  "
              f"loss {history['loss'][-1]:.4f}  ({results[policy]['seconds']:.0f} s)", flush=True)
    reference = results.get("float32")
    if reference:
        for policy, result in results.items():
            if policy != "float32":
                delta = result["AP"] - reference["AP"]
                verdict = "OK" if abs(delta) <= 0.01 else "OVER 0.01"
                print(f"{policy:>15}: delta AP vs float32 {delta:+.4f} ({verdict}), "
                      f"delta AP50 {result['AP50'] - reference['AP50']:+.4f}")
    print(f"backend: {keras.backend.backend()}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"backend": keras.backend.backend(), "results": results}, file, indent=1)


if __name__ == "__main__":
    main()
