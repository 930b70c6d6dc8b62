# keras-centernet: `make demo` runs the quickstart, `make test` installs everything and runs the tests.
# Both start from nothing: they create .venv and install the tested versions; `make test` also builds Horovod
# (from its sdist, ~6 min on 2 cores the first time; the wheel is cached under ~/.cache/keras-centernet).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed-base
STAMP := $(VENV)/.installed-horovod
# Real annotated photos for tests and the demo (deepforest: aerial photos with VOC tree boxes). Only its data
# files are used, so it installs without its (heavy) dependencies.
DATA_PACKAGES := deepforest==2.1.0

.PHONY: demo test test-fast lint venv horovod benchmark mutation clean

$(BASE): setup.py requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements-test.txt keras-hub==0.32.0  # keras-hub: the keras-hub extra's tested version
	$(PY) -m pip install -q --no-deps $(DATA_PACKAGES)
	$(PY) -m pip install -q --no-deps -e .
	touch $(BASE)

$(STAMP): $(BASE) scripts/install_horovod.sh
	PYTHON=$(PY) bash scripts/install_horovod.sh
	touch $(STAMP)

venv: $(BASE)

horovod: $(STAMP)

lint: $(BASE)
	$(VENV)/bin/ruff check keras_centernet tests benchmarks examples gpu mutation

# System packages the tests need beyond Python (sshd for the two-host Horovod test), installed with apt-get
# only when missing (CI runs as root on a fresh machine); without root the two-host tests skip with the reason.
.PHONY: system-packages
system-packages:
	bash scripts/install_system_packages.sh

# TensorFlow backend runs everything; the JAX pass re-runs the backend-agnostic tests (slow ones excluded).
test: lint $(STAMP) system-packages
	$(PY) -m pytest -p no:cacheprovider tests
	KERAS_BACKEND=jax $(PY) -m pytest -p no:cacheprovider -m "not tensorflow and not horovod and not slow" \
		tests/models tests/layers tests/losses

test-fast: $(BASE)
	$(PY) -m pytest -p no:cacheprovider -m "not slow and not horovod" tests

# Trains a tree detector on deepforest's aerial photos and draws it on photos it never saw (~8 min on 2 cores).
demo: $(BASE)
	$(PY) examples/quickstart.py

benchmark: $(STAMP)
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/input_pipeline.py
	$(PY) benchmarks/scaling.py

# Plants each mutant of mutation/mutants.py and runs its tests; writes docs/mutation.md (~25 min, not in CI).
mutation: $(STAMP)
	$(PY) -m mutation.run

clean:
	rm -rf $(VENV) build dist *.egg-info demo_output
