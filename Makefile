# The front door: `make run` builds the warehouse and a release from raw/; `make test` runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCALE ?= 1.0
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/dagster_home
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup run test lint dev nightly verify lock clean bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $(STAMP)

setup: $(STAMP) ## Create the locked environment in .venv (done by every target that needs it)

run: setup ## Build the warehouse and a release from raw/
	$(BIN)/python -m pipeline run

fetch: setup ## Fetch new editions of the enabled sources (connectors.yaml) into raw/
	$(BIN)/python -m pipeline.connectors fetch

test: setup ## Run the tests
	$(BIN)/python -m pytest

verify: setup ## Check every release's files against its datapackage.json (sha256, bytes, rows)
	$(BIN)/python -m pipeline verify

bench: setup ## Benchmark a synthetic province of villages (SCALE=1.0 ≈ 15.6M observations) against pandas and DuckDB
	$(BIN)/python -m bench.run --scale $(SCALE)

lint: setup ## Lint with ruff
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench

dev: setup ## Dagster UI + daemon (schedule, sensor) on http://127.0.0.1:3000
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -m pipeline.definitions

nightly: setup ## The nightly run headless (cron/systemd): rebuild only what changed
	$(BIN)/python -m pipeline.automation

lock: ## Re-resolve requirements.in into requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.in
	.lock-venv/bin/python -m pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

clean: ## Remove the environment and build outputs (not raw/)
	rm -rf $(VENV) warehouse/indicators.duckdb warehouse/releases dagster_home/storage
