# keras-centernet on the official TensorFlow image, with Horovod built the way `make` builds it.
#   docker build -t keras-centernet .                                               # CPU
#   docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu \
#       --build-arg HOROVOD_GPU_OPERATIONS=NCCL -t keras-centernet:gpu .            # NVIDIA GPUs (NCCL all-reduce)
#   docker build --build-arg BASE_IMAGE=<vendor TensorFlow image> -t keras-centernet:vendor .   # e.g. an MLU image
# The base image must provide TensorFlow 2.16-2.21 for its Python; pip keeps it (no reinstall of tensorflow).
ARG BASE_IMAGE=tensorflow/tensorflow:2.21.0
FROM ${BASE_IMAGE}

ARG HOROVOD_GPU_OPERATIONS=
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=2
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake g++ make git openssh-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/keras-centernet
COPY setup.py pyproject.toml README.md requirements-test.txt ./
COPY keras_centernet ./keras_centernet
COPY scripts ./scripts
COPY examples ./examples
# Keep the image's own TensorFlow build (GPU or vendor): install our other dependencies around it.
RUN python3 -m pip install --upgrade pip \
    && python3 -m pip install "keras>=3.8,<3.16" "keras-cv>=0.9,<0.10" "pycocotools>=2.0.7,<2.1" pillow tqdm \
    && python3 -m pip install --no-deps . \
    && HOROVOD_GPU_OPERATIONS=${HOROVOD_GPU_OPERATIONS} PYTHON=python3 bash scripts/install_horovod.sh \
    && keras-centernet --help

ENTRYPOINT ["keras-centernet"]
