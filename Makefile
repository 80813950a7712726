# gridwatch — two commands: `make run` (demo on http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
NPM_STAMP := map_ui/node_modules/.installed-$(shell cat map_ui/package.json map_ui/package-lock.json 2>/dev/null | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help deps system-deps venv assets db run test test-pgbouncer lint typecheck pytest bench bench-quick bench-demo bench-load clean

help:
	@echo "make run    install what is missing, start the embedded PostGIS, migrate, seed the demo city, serve http://$(HOST):$(PORT)"
	@echo "make test   install what is missing, then ruff, mypy and pytest against a real PostGIS"
	@echo "make bench  the province benchmarks (bench/README.md); make bench-quick: a 5-minute run"

system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

$(NPM_STAMP): map_ui/package.json
	cd map_ui && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
	@rm -f map_ui/node_modules/.installed-* && touch $@

assets: $(NPM_STAMP)

deps: system-deps venv assets

db: deps
	$(BIN)/gridwatch db start
	$(BIN)/gridwatch migrate

run: db
	$(BIN)/gridwatch seed-demo
	$(BIN)/gridwatch serve --host $(HOST) --port $(PORT)

lint: venv
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy app

# One test process per core (pytest-xdist; each has a database of its own, tests/conftest.py);
# PYTEST_WORKERS=0 runs them in this process. The slowest tests are listed at the end, to keep
# `make test` under ten minutes.
PYTEST_WORKERS ?= auto
pytest: deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=15

test: deps lint typecheck pytest

# The suite through PgBouncer in transaction mode in front of the embedded cluster
# (scripts/test-pgbouncer.sh; installs the Debian package pgbouncer if missing). E.g.
# PYTEST_ARGS="tests/api -x" for a part of it.
test-pgbouncer: deps
	@GRIDWATCH_WITH_PGBOUNCER=1 bash scripts/system-deps.sh
	bash scripts/test-pgbouncer.sh

# Issue 9's suite (bench/suite.py): ingest, gaps, lapses, XLSX, tiles (with tipg), map, with
# the baselines in the same run; writes bench/results/<date>-<name>.json and its table in
# bench/README.md. `bench` uses the full province (generated once into <db>_province, ~5 min);
# `bench-quick` a small one (<db>_quick), in under 5 minutes.
bench: db
	$(BIN)/python -m bench.suite province

bench-quick: db
	$(BIN)/python -m bench.suite quick

# The demo city's grid-registry benchmarks and the phone page's weight.
bench-demo: db
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.pageweight

# Load test (issue 8): 50 phones + 5 supervisors over loopback HTTP for 600 s on its own
# database gridwatch_load; exits non-zero on any error or a lost report. E.g.
# LOAD_ARGS="--seconds 60". Not part of `make test`.
LOAD_ARGS ?=
bench-load: venv
	$(BIN)/python -m bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) map_ui/node_modules .pytest_cache .mypy_cache .ruff_cache
