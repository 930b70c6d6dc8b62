"""Horovod scaling on one host: images/s with 1 and 2 ranks at a fixed per-rank batch, in one run.

    python benchmarks/scaling.py                      # tiny CenterNet, 128 px, batch 4 per rank, CPU
    python benchmarks/scaling.py --ranks 1 2 4 --backbone resnet18 --image_size 256 --use_gpu

For each rank count it launches ``horovodrun --gloo -np N -H localhost:N`` on this file in worker mode.
Every rank trains CenterNet on in-memory synthetic images (its own shard) with the library's Horovod
pieces and `PerformanceCallback` (warm-up excluded), then times one fused all-reduce of the model's
gradients (``hvd.grouped_allreduce`` over tensors shaped like the trainable variables). Printed: global
images/s, per-rank images/s, scaling efficiency = throughput(N) / (N x throughput(1)) (the ratio against
the 1-rank reference measured in the same run), step time, all-reduce time per step and its share.

With ``--two_hosts`` (root, Linux) the ranks run on two "hosts": the network namespaces of
scripts/two_host_netns.sh (10.77.0.1 and 10.77.0.2 on a veth pair, ssh between them), N/2 ranks each,
horovodrun in host A starting host B's ranks over ssh, Gloo over TCP between the two addresses (1 rank, the
reference, has nothing to send and runs as without the flag). The all-reduce time per step then includes a
real TCP hop (a veth pair: kernel speed, no wire).

    sudo .venv/bin/python benchmarks/scaling.py --two_hosts --ranks 1 2

On a CPU-only machine the ranks share the cores (one TensorFlow process already uses them all), so
efficiency says more about core contention than about Horovod; ``--threads_per_rank 1`` gives each rank
one core's worth of threads. On a multi-GPU host pass --use_gpu (each rank pins its local rank's GPU).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="rank counts; the first is the reference")
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--neck", default="deconv")
    parser.add_argument("--image_size", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=4, help="images per rank per step")
    parser.add_argument("--steps", type=int, default=40, help="training steps per rank count")
    parser.add_argument("--warmup_steps", type=int, default=10)
    parser.add_argument("--allreduce_repeats", type=int, default=20)
    parser.add_argument("--compression", choices=("none", "fp16"), default="none")
    parser.add_argument("--use_gpu", action="store_true", help="train on accelerators (default: CPU only)")
    parser.add_argument(
        "--threads_per_rank", type=int, default=0, help="TensorFlow CPU threads per rank (0: TensorFlow's default)"
    )
    parser.add_argument(
        "--two_hosts", action="store_true", help="ranks across two network namespaces (scripts/two_host_netns.sh)"
    )
    parser.add_argument("--worker", metavar="RESULT_JSON", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args):
    """One rank: train, time the gradient all-reduce, rank 0 writes the result json."""
    from keras_centernet.distribution import setup_distribution

    runtime = setup_distribution("horovod", use_gpu=args.use_gpu)
    import horovod.tensorflow as hvd
    import keras
    import numpy as np
    import tensorflow as tf

    if args.threads_per_rank:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads_per_rank)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads_per_rank)

    from keras_centernet.callbacks.horovod import horovod_callbacks
    from keras_centernet.callbacks.performance import PerformanceCallback
    from keras_centernet.data.synthetic import make_synthetic_dataset
    from keras_centernet.horovod import HorovodGradientReducer, horovod_jit_compile
    from keras_centernet.models.centernet import CenterNet
    from keras_centernet.schedules import make_learning_rate_schedule

    images, boxes, labels = make_synthetic_dataset(
        16 * args.batch_size, image_size=args.image_size, max_boxes=16, seed=runtime.rank
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices((images.astype("float32"), {"boxes": boxes, "labels": labels}))
        .repeat()
        .batch(args.batch_size, drop_remainder=True)
        .prefetch(2)
    )
    keras.utils.set_random_seed(0)
    model = CenterNet(3, backbone=args.backbone, neck=args.neck)
    model.gradient_reducer = HorovodGradientReducer(args.compression)
    model.compile(
        optimizer=keras.optimizers.Adam(make_learning_rate_schedule(1e-4, runtime.global_batch_size(args.batch_size))),
        jit_compile=horovod_jit_compile("auto"),
    )
    performance = PerformanceCallback(
        args.batch_size,
        num_devices=runtime.num_devices,
        warmup_steps=args.warmup_steps,
        is_chief=runtime.is_chief,
        print_fn=lambda line: None,
    )
    model.fit(
        dataset,
        epochs=1,
        steps_per_epoch=args.steps + args.warmup_steps,
        callbacks=[*horovod_callbacks(), performance],
        verbose=0,
    )

    gradients = [tf.zeros(v.shape, v.dtype) for v in model.trainable_variables]
    reducer = tf.function(HorovodGradientReducer(args.compression))
    reducer(gradients)  # trace + first negotiation
    hvd.allreduce(tf.constant(0.0), name="barrier")
    start = time.perf_counter()
    for _ in range(args.allreduce_repeats):
        result = reducer(gradients)
    _ = [r.numpy() for r in result[:1]]
    allreduce_time = (time.perf_counter() - start) / args.allreduce_repeats
    allreduce_time = float(hvd.allreduce(tf.constant(allreduce_time, tf.float64), op=hvd.Average).numpy())

    if runtime.is_chief:
        summary = performance.summary
        result = {
            "ranks": runtime.size,
            "throughput": summary["throughput"],
            "throughput_per_rank": summary["throughput_per_device"],
            "step_time": summary["step_time"],
            "allreduce_time": allreduce_time,
            "gradient_megabytes": sum(int(np.prod(v.shape)) * 4 for v in model.trainable_variables) / 2**20,
            "devices": summary["devices"],
        }
        with open(args.worker, "w") as f:
            json.dump(result, f)


TWO_HOSTS = os.path.join(ROOT, "scripts", "two_host_netns.sh")
TWO_HOST_ENV = {"TWO_HOST_PREFIX": f"kb{os.getpid() % 100000}", "TWO_HOST_DIR": f"/tmp/kcn-scaling-{os.getpid()}"}
ADDR_A, ADDR_B, SSH_PORT, IFACE = "10.77.0.1", "10.77.0.2", "2222", "kcn0"  # two_host_netns.sh's defaults


def two_hosts(action):
    """`scripts/two_host_netns.sh up|down` with this run's namespace names; exits with the reason on failure."""
    env = dict(os.environ, **TWO_HOST_ENV)
    result = subprocess.run(["bash", TWO_HOSTS, action], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"two_host_netns.sh {action} failed: {result.stdout}{result.stderr}")


def host_arguments(args, ranks):
    """horovodrun's host arguments, and the command prefix that runs it (inside host A for --two_hosts)."""
    if not args.two_hosts or ranks == 1:  # one rank has nothing to send: the reference runs as on one host
        return ["-H", f"localhost:{ranks}"], []
    hosts = f"{ADDR_A}:{ranks - ranks // 2},{ADDR_B}:{ranks // 2}"
    identity = os.path.join(TWO_HOST_ENV["TWO_HOST_DIR"], "id_ed25519")
    arguments = ["-H", hosts, "--network-interface", IFACE, "-p", SSH_PORT, "-i", identity]
    return arguments + ["--gloo-timeout-seconds", "30"], ["bash", TWO_HOSTS, "run"]


def launch(args, ranks, result_path):
    horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    horovodrun = horovodrun if os.path.exists(horovodrun) else shutil.which("horovodrun")
    if not horovodrun:
        sys.exit("horovodrun not found: build Horovod with scripts/install_horovod.sh")
    hosts, prefix = host_arguments(args, ranks)
    command = [*prefix, horovodrun, "--gloo", "-np", str(ranks), *hosts, sys.executable, __file__]
    command += ["--worker", result_path]
    names = ("backbone", "neck", "image_size", "batch_size", "steps", "warmup_steps", "allreduce_repeats")
    for name in (*names, "threads_per_rank"):
        command += [f"--{name}", str(getattr(args, name))]
    command += ["--compression", args.compression] + (["--use_gpu"] if args.use_gpu else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]), **TWO_HOST_ENV)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])  # for host B's ranks too
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["KERAS_BACKEND"] = "tensorflow"
    if not args.use_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"horovodrun -np {ranks} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    with open(result_path) as f:
        return json.load(f)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    results = []
    if args.two_hosts:
        two_hosts("up")
    try:
        with tempfile.TemporaryDirectory() as folder:
            for ranks in args.ranks:
                results.append(launch(args, ranks, os.path.join(folder, f"ranks{ranks}.json")))
    finally:
        if args.two_hosts:
            two_hosts("down")
    reference = results[0]
    where = f"two hosts ({ADDR_A} + {ADDR_B}, Gloo over TCP on a veth pair)" if args.two_hosts else "one host"
    print(
        f"Horovod scaling on {where}: CenterNet {args.backbone}/{args.neck} {args.image_size}px, "
        f"batch {args.batch_size}/rank, "
        f"{args.steps} timed steps after {args.warmup_steps} warm-up, compression {args.compression}, "
        f"gradients {reference['gradient_megabytes']:.2f} MiB, {os.cpu_count()} CPU cores, "
        f"threads/rank {args.threads_per_rank or 'default'}, "
        f"devices {reference['devices']}"
    )
    header = ("ranks", 5), ("images/s", 10), ("per rank", 10), ("efficiency", 10), ("step ms", 9), ("allreduce ms", 13)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'share':>6}")
    for result in results:
        ideal = reference["throughput"] / reference["ranks"] * result["ranks"]
        efficiency = result["throughput"] / ideal
        share = result["allreduce_time"] / result["step_time"]
        result.update(efficiency=efficiency, allreduce_share=share)
        print(
            f"{result['ranks']:>5} {result['throughput']:>10.1f} {result['throughput_per_rank']:>10.1f} "
            f"{efficiency:>10.2f} {result['step_time'] * 1000:>9.1f} {result['allreduce_time'] * 1000:>13.2f} "
            f"{share:>6.1%}"
        )
    print(json.dumps({"scaling": results, "two_hosts": args.two_hosts}))


if __name__ == "__main__":
    main()
