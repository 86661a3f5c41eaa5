# The two commands of the README: `make demo` (main job on the synthetic NTU world) and
# `make test`. `make setup` (idempotent) installs what the demo needs; `make setup-test` adds the
# test-only packages (pytest, ruff, onnx, onnxruntime, fvcore, tensorboard: the `test` extra).
# Each has its own stamp, so `make demo` on a fresh clone never installs the test packages.
# scripts/install.sh installs with uv (parallel unpacking of torch's wheels) and falls back to pip;
# MMFUSION_INSTALLER=pip forces pip. The test set-up byte-compiles the environment (the tests start
# dozens of Python processes; the demo is one).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmfusion-installed
TEST_STAMP := $(VENV)/.mmfusion-test-installed

.PHONY: setup setup-test demo test lint bench mediapipe constraints clean

setup: $(STAMP)

setup-test: $(TEST_STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/check_system_deps.sh scripts/install.sh
	@scripts/check_system_deps.sh
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	scripts/install.sh $(PY) constraints.txt -e .
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	MMFUSION_COMPILE_BYTECODE=1 scripts/install.sh $(PY) constraints.txt -e '.[test]'
	@touch $(TEST_STAMP)

# The main job: generate the synthetic NTU world (cached), train M-Mixer and the single-modality
# baselines on its cross-subject split, print the accuracy table. The launcher sets
# OMP_NUM_THREADS=1; the engine still computes on every core the launch leaves, and
# OMP_WAIT_POLICY=PASSIVE keeps those threads from spin-waiting when other jobs share the cores
# (docs/training.md#cpu-threads).
# The last line printed is the wall time of the whole target, set-up included.
demo:
	@start=$$(date +%s); $(MAKE) --no-print-directory setup && \
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} $(VENV)/bin/accelerate launch --num_processes 1 --num_machines 1 \
		--mixed_precision no --dynamo_backend no recipes/mmixer_ntu.py; rc=$$?; \
	echo "make demo: $$(( $$(date +%s) - start )) s wall, set-up included (exit $$rc)"; exit $$rc

test: setup-test
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -p no:cacheprovider

lint: setup-test
	$(VENV)/bin/ruff check .

bench: setup-test
	$(PY) benchmarks/run_all.py

# Optional: MediaPipe Pose as the offline 2-D detector of `mmfusion predict` / `mmfusion keypoints`
# (--no-deps: see the `mediapipe` extra in pyproject.toml).
mediapipe: setup
	$(PY) -m pip install -q --no-deps mediapipe==0.10.14 opencv-contrib-python==4.14.0.94

constraints:
	$(PY) -m pip freeze --exclude-editable | grep -v '^mmfusion' > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
