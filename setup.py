"""keras-centernet: CenterNet ("Objects as Points") object detection in pure Keras 3."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "keras_centernet" / "_version.py").read_text()).group(1)

setup(
    name="keras-centernet",
    version=VERSION,
    description="CenterNet object detection (Objects as Points) in pure Keras 3, trained with model.fit",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_centernet", "keras_centernet.*"]),
    py_modules=["keras_centernet_command"],  # the console script: a fast, quiet --help (see its docstring)
    # Tested versions: tensorflow 2.21.0, keras 3.15.1, keras-cv 0.9.0, pycocotools 2.0.11, numpy 2.x.
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.8,<3.16",
        "pycocotools>=2.0.7,<2.1",
        "numpy>=1.26,<3",
        "pillow>=10",
        "tqdm>=4.60",
    ],
    extras_require={
        # Horovod 0.28.1 must be built from its sdist without xla_mpi_ops.cc: use scripts/install_horovod.sh.
        "horovod": ["horovod==0.28.1"],
        "jax": ["jax[cpu]>=0.4.30"],
        # The library never imports keras-cv: tests/losses/test_focal.py checks our focal loss against its.
        "parity": ["keras-cv>=0.9,<0.10"],
        # Pretrained backbones (backbone="keras_hub:resnet_50_imagenet"); 0.32.0 is tested with keras 3.15.1, TF 2.21.
        "keras-hub": ["keras-hub>=0.32,<0.33"],
        # TF >= 2.21 no longer installs TensorBoard: scalars and profiles of `train` need it.
        "tensorboard": ["tensorboard>=2.16"],
        "tests": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6"],
    },
    entry_points={"console_scripts": ["keras-centernet=keras_centernet_command:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
