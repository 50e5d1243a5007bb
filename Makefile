# Set-up and the two jobs of the README. Each environment is a virtual
# environment built from one requirements file, and rebuilt when it changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup sweep test clean

# Environments the tests need besides .venv: one "TEST_ENVS += DIR/.installed"
# line each, here, above the test rule that reads the list (their rules can go anywhere).
TEST_ENVS :=

setup: $(VENV)/.installed

$(VENV)/.installed: requirements/keras3-cpu.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/keras3-cpu.txt -r requirements/dev.txt
	touch $@

# The main job: every installed Keras 3 backend x mlp, cnn, lstm on synthetic data.
sweep: setup
	$(PY) -m harness sweep $(ARGS)

test: setup $(TEST_ENVS)
	$(PY) -m pytest tests -q -p no:cacheprovider $(ARGS)

clean:
	rm -rf $(VENV) $(TEST_ENVS:/.installed=)
