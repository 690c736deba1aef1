# The front door: `make run` builds the warehouse and a release from raw/; `make test` runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCALE ?= 1.0
# The stored run bench-changes compares (a DAGSTER_HOME's storage folder, read only).
STORAGE ?= $(CURDIR)/dagster_home/storage
STAMP := $(VENV)/.installed
# Debian packages outside the Python environment: the CJK font the charts' Chinese labels need (`make run`) and the
# headless browser the report test renders report.html in (`make test`).
SYSTEM_PACKAGES := chromium fonts-noto-cjk

export DAGSTER_HOME := $(CURDIR)/dagster_home
export PYTHONDONTWRITEBYTECODE := 1

LINT_PATHS := pipeline tests bench scripts

.PHONY: help setup system-packages run fetch test test-fast lint typecheck check dev nightly verify lock clean bench \
	bench-nightly bench-changes

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# The locked dependencies, then the project itself as an editable install (so `import pipeline` works from anywhere
# without PYTHONPATH); --no-deps: everything it needs is already in the lock. The egg-info setuptools leaves in the
# work tree is a build by-product (the installed metadata is in .venv), so it goes.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -rf guangzhou_urban_rural_pipeline.egg-info
	touch $(STAMP)

setup: $(STAMP) ## Create the locked environment in .venv (done by every target that needs it)

system-packages: ## Install chromium and fonts-noto-cjk with apt-get if missing (as root; otherwise say what to install)
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ fc-list ':family=Noto Sans CJK SC' 2>/dev/null | grep -q . \
	  || ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1; } || missing="$$missing fonts-noto-cjk"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing the missing system packages:$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	else \
	  echo "Missing system packages:$$missing (the charts need fonts-noto-cjk, the report test needs chromium)."; \
	  echo "Install them with: sudo apt-get update && sudo apt-get install -y$$missing"; \
	fi

run: setup system-packages ## Build the warehouse and a release from raw/
	$(BIN)/python -m pipeline run

fetch: setup ## Fetch new editions of the enabled sources (connectors.yaml) into raw/
	$(BIN)/python -m pipeline.connectors fetch

test: setup system-packages ## Run the whole test suite (what CI runs; 3-10 minutes on a 2-core machine)
	$(BIN)/python -m pytest

test-fast: setup ## Run the unit tests (tests/unit, without the integration-marked ones): the quick subset of `make test`
	$(BIN)/python -m pytest tests/unit -m "not integration"

verify: setup ## Check every release (checksums.csv: sha256, bytes; datapackage.json: rows) and the live warehouse
	$(BIN)/python -m pipeline verify

bench: setup ## Benchmark a synthetic province of villages (SCALE=1.0 ≈ 15.6M observations) against pandas and DuckDB
	$(BIN)/python -m bench.run --scale $(SCALE)

bench-nightly: setup ## Benchmark `make nightly`: first run, no change, one changed table (on a temporary copy)
	$(BIN)/python -m bench.nightly_incremental

bench-changes: setup ## Benchmark CHANGES.md against a previous release made with known edits (STORAGE=a stored run)
	$(BIN)/python -m bench.changes --storage $(STORAGE)

lint: setup ## Lint with ruff (check and format), check the import layers (lint-imports) and the types (mypy)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy

typecheck: setup ## Type-check the stage packages (core ingest validate indicators publish connectors) with mypy
	$(BIN)/mypy

check: lint test-fast ## The quick gate before a commit: lint (with the type check), unit tests

dev: setup system-packages ## Dagster UI + daemon (schedule, sensor) on http://127.0.0.1:3000
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -m pipeline.definitions

nightly: setup system-packages ## The nightly run headless (cron/systemd): rebuild only what changed
	$(BIN)/python -m pipeline.automation

lock: ## Re-resolve requirements.in (the project and its extras) into requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.in
	.lock-venv/bin/python -m pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv guangzhou_urban_rural_pipeline.egg-info

clean: ## Remove the environment and build outputs (not raw/)
	rm -rf $(VENV) warehouse/indicators.duckdb warehouse/releases dagster_home/storage
