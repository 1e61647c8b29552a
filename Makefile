# `make run`: set up and run the whole pipeline on the embedded default (dvc repro).
# `make test`: set up and run the test suite (what CI runs through .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup run snakemake scenario ablation test test-e2e test-fast lint format clean

setup: $(VENV)/.installed

# torch==2.13.0 goes first, alone: pip then takes the CPU wheel and never pulls CUDA packages.
$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

run: setup
	dvc repro

snakemake: setup
	snakemake --cores 2

# A params overlay in scenarios/ run in its own workspace (README "Scenarios"), resumable.
SCENARIO ?= search_quality
scenario: setup
	$(PY) -m hyctas.scenario scenarios/$(SCENARIO).yaml

# Variants of a scenario up to one stage, side by side (README "Scenarios"); resumable.
ABLATION ?= supernet_ablation
ablation: setup
	$(PY) -m hyctas.ablation scenarios/$(ABLATION).yaml

# Tests run in TEST_WORKERS processes (pytest-xdist), one test file per process at a time, so
# a file's module fixtures (a tiny repo, a finished tiny DAG) are built once. Most tests wait on
# subprocesses, so 2 workers suit a 2-core machine; TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
PYTEST := pytest -q -n $(TEST_WORKERS) --dist loadfile

# The suite (< 15 min): unit tests, stage-level pipeline tests, DAG parity.
test: setup
	$(PYTEST) -m "not e2e and not slurm"

# Whole-DAG tests on tiny params (both engines, SLURM, MLflow under concurrency): slower.
test-e2e: setup
	$(PYTEST) -m "e2e or slurm"

test-fast: setup
	pytest -q -m "not pipeline and not slow"

lint: setup
	ruff check hyctas stages tests benchmarks
	ruff format --check hyctas stages tests benchmarks
	snakemake --lint

format: setup
	ruff format hyctas stages tests benchmarks

clean:
	rm -rf data/*/ results logs .snakemake
