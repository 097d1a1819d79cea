# Two entry points for a fresh machine:
#   make test   create .venv (once), install alto into it, run the test suite
#   make test-fast   the unit tests only: no training, workflow, SLURM cluster or bench (tests marked slow)
#   make demo   same environment, then run the Snakemake workflow on the demo data
#
# TORCH selects the PyTorch build, e.g. `make test TORCH="torch==2.13.0"` (the default,
# a CPU build here) or a CUDA wheel spec on a GPU machine. Changing it reinstalls torch.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
TORCH ?= torch==2.13.0
CORES ?= $(shell nproc 2>/dev/null || echo 2)
PYTEST_ARGS ?=

BIN := $(VENV)/bin
# The install stamp records both inputs: pyproject.toml (by time) and the torch spec (by name).
TORCH_TAG := $(shell printf '%s' '$(TORCH)' | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.alto-installed-$(TORCH_TAG)

.PHONY: test test-fast demo install lint clean-venv gpu-wheels gpu-check

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.alto-installed-*
	@touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -n $(CORES) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(CORES) -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) all
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES) --report results/report.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint

clean-venv:
	rm -rf $(VENV)

# The prepared GPU check (docs/benchmarks_gpu.md): `make gpu-wheels` here downloads the wheels that
# the lent GPU machine lacks into .whl/; `make gpu-check` runs the check on a GPU machine with its
# own python3 (PYTHON=... picks another), writing to $OUT or results/gpu_check.
gpu-wheels: $(STAMP)
	$(BIN)/python bench/gpu/fetch_wheels.py

gpu-check:
	bash bench/gpu/check.sh
