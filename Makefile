# The README's two commands are `make run` and `make test`; both create .venv and install
# what they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint format typecheck unit integration bench local clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[local,parquet,query,lambda,cli]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## run: the main job on the embedded emulator (no Docker, no AWS account)
run: $(VENV)/.run-installed
	$(BIN)/shardflow demo

## test: lint, type-check and the whole test suite (unit, integration, e2e)
test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

unit: $(VENV)/.dev-installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.dev-installed
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

## bench: every benchmark, printing ratios against its baselines
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

## local: the embedded emulator on 127.0.0.1:4566 until Ctrl-C
local: $(VENV)/.run-installed
	$(BIN)/shardflow local

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
