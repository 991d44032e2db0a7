# mupsim: every target sets up its own virtual environment in .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
QUICK  ?= 0
# make figures BACKEND=ensemble | EXECUTOR=dask [SCHEDULER=tcp://HOST:8786] | ARCHIVE=none
BACKEND   ?= numba
# the committed long runs (figures/data/runs): read (default) or none (every run computed here)
ARCHIVE   ?= read
EXECUTOR  ?= local
SCHEDULER ?=
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export MPLBACKEND := Agg
# one BLAS/numba thread per process: sweeps parallelise over processes (and 2 BLAS threads
# on a busy 2-core machine are far slower than 1)
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: all venv test figures archive-runs long-memory check-repro theory docs bench bench-ensemble clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,torch,dask,hf,docs]'
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

figures: $(STAMP)
	$(PY) -m mupsim.experiments.make_figures --quick=$(QUICK) --backend $(BACKEND) \
		--executor $(EXECUTOR) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) --archive $(ARCHIVE)

# every figure run without the committed long runs, then those runs rewritten from this run
# (figures/data/runs: the runs estimated at archive.MIN_SECONDS or more on one core)
archive-runs: $(STAMP)
	$(PY) -m mupsim.experiments.make_figures --quick=0 --archive write

# F10's long-memory runs (τ up to 4,096 steps, 135 runs): about 140 min on 2 cores from scratch;
# writes the committed figures/data/f10_long_memory_runs.json, which F10 (make figures) only
# reads, keeping the records already there that the current simulator and calculator would make
long-memory: $(STAMP)
	$(PY) -m mupsim.experiments.long_memory --backend $(BACKEND)

# recompute a few committed figures' runs; headline statistics must fall inside their intervals
check-repro: $(STAMP)
	$(PY) -m mupsim.experiments.repro

theory: $(STAMP)
	$(PY) -m mupsim.render theory

# the documentation site in .cache/site/ (make test builds it too: tests/test_docs.py)
docs: $(STAMP)
	$(PY) -m mkdocs build --strict -d .cache/site

bench: $(STAMP)
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.sweep_scaling

# ensemble backend: CPU sweep-mix throughput here; on a CUDA machine also run
# `python -m benchmarks.ensemble refs DIR` (here) and `python -m benchmarks.ensemble gpu --refs DIR` (there)
bench-ensemble: $(STAMP)
	$(PY) -m benchmarks.ensemble cpu --out benchmarks/ENSEMBLE_CPU.json

clean:
	rm -rf $(VENV) .cache build *.egg-info
