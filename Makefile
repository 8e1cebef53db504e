# Set-up is part of every target: a fresh clone needs only `make study` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: setup study test test-slow bench lint clean

$(STAMP): requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $(STAMP)

setup: $(STAMP)

study: setup
	$(PY) run_all.py $(ARGS)

test: setup
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) benchmarks/bench_sampler.py

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
