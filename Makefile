# keras-centernet: `make demo` runs the quickstart, `make test` installs everything and runs the tests.
# Both start from nothing: they create .venv, install the tested versions and build Horovod (cached).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint venv horovod benchmark clean

$(STAMP): setup.py requirements-test.txt scripts/install_horovod.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -r requirements-test.txt
	$(PY) -m pip install -q --no-deps -e .
	PYTHON=$(PY) bash scripts/install_horovod.sh
	touch $(STAMP)

venv: $(STAMP)

horovod: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check keras_centernet tests benchmarks examples

# TensorFlow backend runs everything; the JAX pass re-runs the backend-agnostic model tests.
test: lint
	$(PY) -m pytest -p no:cacheprovider tests
	KERAS_BACKEND=jax $(PY) -m pytest -p no:cacheprovider -m "not tensorflow and not horovod" tests/models tests/layers tests/losses

test-fast: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -m "not slow" tests

demo: $(STAMP)
	$(PY) examples/quickstart.py

benchmark: $(STAMP)
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/input_pipeline.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo_output
