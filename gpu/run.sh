#!/bin/bash
# One device call: our CenterNet step on Keras-JAX (gpu/bench_jax.py) beside the references of anchor_bench.py
# (torch eager, torch.compile, a plain Keras-JAX model on dense targets), all resnet50 + deconv, 512 px, bf16,
# batch 64, each configuration in its own process with its own time limit. RESULT lines go to $OUT/results.txt,
# then gpu/summarize.py prints our ratios against the targets (>= 1.15x torch.compile, >= 1.3x torch eager).
#
# Before the call, here in the repo root (both folders are ignored, so they travel only when carried):
#   grep -qx '/.gpu_anchor/' .git/info/exclude || echo /.gpu_anchor/ >> .git/info/exclude
#   mkdir -p .gpu_anchor && cp /work/shared/gpu/anchor_bench.py .gpu_anchor/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl keras==3.15.1 namex optree        # the device image has jax, torch, numpy, h5py, rich, ml-dtypes
# Then: run(command="bash gpu/run.sh", carry=[".whl", ".gpu_anchor"], timeout_s=540).
# SMALL=1 bash gpu/run.sh runs everything at 64 px with 2 steps (BENCH_SMALL), e.g. as a CPU smoke test.
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/gpu_bench_out}
mkdir -p "$OUT"
ANCHOR=${ANCHOR:-.gpu_anchor/anchor_bench.py}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.85
[ -n "$SMALL" ] && export BENCH_SMALL=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv 2>/dev/null
python3 -c "import keras, jax; print('keras', keras.__version__, 'jax', jax.__version__, jax.devices())"
: > "$OUT/results.txt"
if [ -f "$ANCHOR" ]; then
  for cfg in "torch bf16 64" "torch-compile bf16 64" "keras-jax bf16 64"; do
    timeout 150 python3 "$ANCHOR" $cfg 2>&1 | grep -E "RESULT|Error|error" | tail -3 | tee -a "$OUT/results.txt"
  done
else
  echo "no $ANCHOR: copy /work/shared/gpu/anchor_bench.py there and carry it (see the top of this file)"
fi
timeout 240 python3 gpu/bench_jax.py --backbone resnet50 --neck deconv --batch-size 64 --precision bf16 2>&1 \
  | grep -E "RESULT|Error|error" | tail -3 | tee -a "$OUT/results.txt"
python3 gpu/summarize.py "$OUT/results.txt" | tee "$OUT/summary.txt"
