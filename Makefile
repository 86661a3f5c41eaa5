# The two commands of the README: `make demo` (main job on the synthetic NTU world) and
# `make test`. Both start with `make setup`, which is idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmfusion-installed

.PHONY: setup demo test lint bench constraints clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/check_system_deps.sh
	@scripts/check_system_deps.sh
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# The main job: generate the synthetic NTU world (cached), train M-Mixer and the single-modality
# baselines on its cross-subject split, print the accuracy table.
demo: setup
	$(VENV)/bin/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no recipes/mmixer_ntu.py

test: setup
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/run_all.py

constraints:
	$(PY) -m pip freeze --exclude-editable | grep -v '^mmfusion' > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
