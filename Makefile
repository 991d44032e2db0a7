# mupsim: every target sets up its own virtual environment in .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
QUICK  ?= 0
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export MPLBACKEND := Agg

.PHONY: all venv test figures theory bench clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

figures: $(STAMP)
	$(PY) -m mupsim.experiments.make_figures --quick=$(QUICK)

theory: $(STAMP)
	$(PY) -m mupsim.theory.render theory

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .cache build *.egg-info
