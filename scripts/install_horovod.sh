#!/usr/bin/env bash
# Install Horovod 0.28.1 (TensorFlow + Gloo, MPI when mpicxx is present) into the active Python.
#
# Horovod 0.28.1 is its last release and does not build against TensorFlow >= 2.16:
# horovod/tensorflow/xla_mpi_ops.cc includes XLA headers TensorFlow no longer ships. That file is GPU-only
# and unused unless HOROVOD_ENABLE_XLA_OPS=1, so we build the PyPI sdist without it.
# The built wheel is cached (keyed by Python, TensorFlow and build flags) and reused.
#
# Usage: PYTHON=.venv/bin/python scripts/install_horovod.sh
# GPU clusters: HOROVOD_GPU_OPERATIONS=NCCL HOROVOD_NCCL_HOME=/usr/local/nccl scripts/install_horovod.sh
set -euo pipefail
PYTHON=${PYTHON:-python3}
VERSION=0.28.1
CACHE=${KERAS_CENTERNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keras-centernet}/horovod-wheels

if "$PYTHON" -c "import horovod.tensorflow as h; assert h.gloo_built()" 2>/dev/null; then
  echo "install_horovod: Horovod with TensorFlow and Gloo already installed"; exit 0
fi
PY_TAG=$("$PYTHON" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
TF_VERSION=$("$PYTHON" -c "import tensorflow as tf; print(tf.__version__)")
KEY="tf${TF_VERSION}-${PY_TAG}-gpu${HOROVOD_GPU_OPERATIONS:-none}-mpi$(command -v mpicxx >/dev/null && echo 1 || echo 0)"
WHEEL_DIR="$CACHE/$KEY"
if ! ls "$WHEEL_DIR"/horovod-$VERSION-*.whl >/dev/null 2>&1; then
  missing=$(for tool in cmake g++ make; do command -v "$tool" >/dev/null || echo "$tool"; done)
  if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install_horovod: installing build tools with apt-get: $missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ make >/dev/null
  fi
  for tool in cmake g++ make; do
    command -v "$tool" >/dev/null || { echo "install_horovod: '$tool' is required to build Horovod (apt-get install cmake g++ make)" >&2; exit 1; }
  done
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  echo "install_horovod: building Horovod $VERSION for TensorFlow $TF_VERSION ($KEY); takes ~6 min on 2 cores"
  "$PYTHON" -m pip download --no-deps --no-binary :all: "horovod==$VERSION" -d "$WORK" -q
  tar -xzf "$WORK"/horovod-$VERSION.tar.gz -C "$WORK"
  SRC="$WORK/horovod-$VERSION"
  rm -f "$SRC/horovod/tensorflow/xla_mpi_ops.cc"
  sed -i '/xla_mpi_ops.cc/d' "$SRC/horovod/tensorflow/CMakeLists.txt"
  # TF >= 2.16 needs C++17; horovod 0.28.1 asks for C++14 in its TensorFlow target.
  sed -i 's/-std=c++14/-std=c++17/g; s/CMAKE_CXX_STANDARD 14/CMAKE_CXX_STANDARD 17/g' "$SRC/CMakeLists.txt" "$SRC/horovod/tensorflow/CMakeLists.txt"
  export HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITH_GLOO=1
  # MPI exactly when the cache key says so: a broken MPI install then fails loudly instead of being skipped.
  if command -v mpicxx >/dev/null; then export HOROVOD_WITH_MPI=1; else export HOROVOD_WITHOUT_MPI=1; fi
  export MAKEFLAGS="-j$(nproc)"
  mkdir -p "$WHEEL_DIR"
  "$PYTHON" -m pip wheel --no-build-isolation --no-deps -w "$WORK/out" "$SRC"
  cp "$WORK"/out/horovod-$VERSION-*.whl "$WHEEL_DIR/"
fi
"$PYTHON" -m pip install --no-deps -q "$WHEEL_DIR"/horovod-$VERSION-*.whl
"$PYTHON" -m pip install -q cloudpickle psutil pyyaml packaging
"$PYTHON" -c "import horovod.tensorflow as h; assert h.gloo_built(), 'Horovod built without Gloo'; print('install_horovod: Horovod', h.__version__ if hasattr(h, '__version__') else '$VERSION', 'OK')"
