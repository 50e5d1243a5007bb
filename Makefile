# Set-up and the two jobs of the README. Each environment is a virtual
# environment built from one requirements file, and rebuilt when it changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup sweep test clean

# Environments the tests need besides .venv: one "TEST_ENVS += DIR/.installed"
# line each, here, above the test rule that reads the list (their rules can go anywhere).
TEST_ENVS :=
TEST_ENVS += .venv-mxnet/.installed .venv-theano/.installed .venv-mxnet110/.installed
TEST_ENVS += .venv-tools/.installed

setup: $(VENV)/.installed

$(VENV)/.installed: requirements/keras3-cpu.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/keras3-cpu.txt -r requirements/dev.txt
	touch $@

# The seeds' Keras 2 backends that run on today's Python, one environment each,
# built from requirements/keras2-NAME.txt: tests/test_keras2.py runs the harness in them.
.venv-mxnet/.installed .venv-theano/.installed .venv-mxnet110/.installed: .venv-%/.installed: requirements/keras2-%.txt
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet $(PIP_OPTIONS_$*) -r $<
	touch $@

# mxnet 1.1.0's metadata asks for a NumPy that today's Python cannot install:
# its file lists every package, pinned, to be installed as listed.
PIP_OPTIONS_mxnet110 := --no-deps

# The main job: every installed Keras 3 backend x mlp, cnn, lstm on synthetic data.
sweep: setup
	$(PY) -m harness sweep $(ARGS)

# -rs lists every skip with its reason; under CI=true (.ci/run) a skip whose reason is
# not in tests/conftest.py's ALLOWED_SKIPS fails the run.
# Two pytest workers: most tests wait on a harness process importing a framework, which
# keeps one core busy, so two cores run two at once. Tests that share a resource (the
# Docker engine) carry one xdist_group and run on one worker.
TEST_WORKERS ?= 2
test: setup $(TEST_ENVS)
	$(PY) -m pytest tests -q -rs -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations=15 $(ARGS)

# hadolint and docker-compose for the image tests; PyYAML builds with Cython < 3.
.venv-tools/.installed: requirements/tools.txt requirements/tools-constraints.txt
	$(PYTHON) -m venv .venv-tools
	PIP_CONSTRAINT=$(CURDIR)/requirements/tools-constraints.txt .venv-tools/bin/pip install --quiet -r requirements/tools.txt
	touch $@

clean:
	rm -rf $(VENV) $(TEST_ENVS:/.installed=)
