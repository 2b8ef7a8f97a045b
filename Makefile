# The README's two commands are `make perf` (the main job) and `make test`. Both set themselves up:
# the first target that needs the virtual environment creates it from the pinned requirements.txt.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)

.PHONY: help venv test lint perf ui sim capacity bench clean

help:
	@echo "make perf      headless performance run against the embedded simulator: verdict + report"
	@echo "make test      the lint and type gates (ruff, mypy), then unit, contract, golden-file and headless integration tests"
	@echo "make lint      the lint and type gates alone (ruff, mypy; settings in pyproject.toml)"
	@echo "make ui        Locust web UI against the embedded simulator"
	@echo "make sim       start the embedded ProspectPro simulator on its own"
	@echo "make capacity  bounded step-load test and capacity-planning report"
	@echo "make bench     benchmarks that print the harness's own speed figures"

$(STAMP): requirements.txt
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -n 4 --dist loadscope

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

perf: $(STAMP)
	$(PY) -m harness perf $(ARGS)

ui: $(STAMP)
	$(PY) -m harness ui $(ARGS)

sim: $(STAMP)
	$(PY) -m simulator $(ARGS)

capacity: $(STAMP)
	$(PY) -m harness capacity $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
