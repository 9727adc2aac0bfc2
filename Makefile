# The README's two commands are `make run` and `make test`; both create .venv and install
# what they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# A local mirror of the hashicorp/aws provider (terraform init -plugin-dir): with it
# `make test` runs terraform validate offline. Empty: validate only through `make tf-validate`.
TF_PLUGIN_DIR ?=

.PHONY: run soak test lint format typecheck unit integration faults bench local clean checkov tf-check tf-fmt tf-validate package-lambda

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# A package added later (its __init__.py) needs the editable install redone to be importable.
PACKAGE_INITS := $(wildcard */__init__.py)

# kcl: the demo runs the KCL consumer too where Java is installed (the wheel bundles the jars;
# without Java it stays unused and the demo says so).
$(VENV)/.run-installed: pyproject.toml $(PACKAGE_INITS) | $(BIN)/python
	$(BIN)/pip install -q -e '.[local,parquet,query,lambda,cli,kcl]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(PACKAGE_INITS) | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## run: the main job on the embedded emulator (no Docker, no AWS account)
run: $(VENV)/.run-installed
	$(BIN)/shardflow demo

## soak: both consumers at a steady rate for SOAK_DURATION seconds (default 180): RSS of the
## producer and consumer processes at start and end, lag at the end, delivery count (not in CI)
SOAK_DURATION ?= 180
SOAK_RATE ?= 500
soak: $(VENV)/.run-installed
	$(BIN)/shardflow demo --soak --duration $(SOAK_DURATION) --rate $(SOAK_RATE) --report shardflow-soak-report.html

## test: lint, type-check and the whole test suite (unit, integration, e2e)
test: lint typecheck checkov tf-check
	$(BIN)/pytest $(PYTEST_ARGS)

# The packages bandit checks (shardflow_tools once the tooling has its own package).
BANDIT_TARGETS := $(wildcard shardflow shardflow_tools producers consumers)

## lint: ruff, bandit (no finding: each skip and # nosec says why) and deptry (no missing or unused dependency)
# bandit warns "nosec encountered (B...), but no failed test" for the other strings of a
# statement whose finding a `# nosec` skipped (it tests each node): that noise is dropped.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	set -o pipefail; $(BIN)/bandit -q -c pyproject.toml -r $(BANDIT_TARGETS) 2>&1 | { grep -v 'but no failed test' || true; }
	$(BIN)/deptry .

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

unit: $(VENV)/.dev-installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.dev-installed
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

## faults: the fault suite (pytest marker `faults`) and its fault table: each fault the
## service claims to survive, with events acknowledged, in S3, duplicated, dead-lettered, lost
faults: $(VENV)/.dev-installed
	$(BIN)/pytest -m faults $(PYTEST_ARGS)

## bench: every benchmark, printing ratios against its baselines
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

## package-lambda: the Lambda consumer's deployment zip (dist/shardflow-lambda.zip)
package-lambda: $(VENV)/.run-installed
	$(BIN)/shardflow package lambda

## local: the embedded emulator on 127.0.0.1:4566 until Ctrl-C
local: $(VENV)/.run-installed
	$(BIN)/shardflow local

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info

# --- Terraform -------------------------------------------------------------------------------
# checkov pins boto3==1.35.49, a year behind the project's boto3: it gets its own virtualenv,
# installed once (the stamp file caches it) and never mixed with .venv.
CHECKOV_VENV ?= .tools/checkov-venv
CHECKOV_VERSION ?= 3.3.30

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'
	touch $@

## checkov: scan terraform/ (no failed check allowed; each skip carries its reason in the code)
# --skip-download: nothing leaves this machine (no guideline or policy download).
checkov: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	$(CHECKOV_VENV)/bin/checkov -d terraform --skip-download --quiet --compact

## tf-check (part of make test): terraform validate where terraform and a provider mirror
## (TF_PLUGIN_DIR) exist, terraform fmt -check where only terraform does
tf-check:
ifneq ($(TF_PLUGIN_DIR),)
	@$(MAKE) --no-print-directory tf-validate
else
	@$(MAKE) --no-print-directory tf-fmt
	@if command -v terraform >/dev/null 2>&1; then \
		echo "tf-check: TF_PLUGIN_DIR is not set: terraform validate NOT run (make tf-validate gets the provider from the registry)."; \
	fi
endif

## tf-fmt: terraform fmt -check (offline), where terraform is installed
tf-fmt:
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -recursive terraform"; \
		CHECKPOINT_DISABLE=1 terraform fmt -check -recursive -diff terraform; \
	else \
		echo "tf-fmt: terraform is not installed: terraform fmt -check NOT run (tests/unit/terraform checks indentation and alignment)."; \
	fi

## tf-validate: terraform fmt -check and terraform validate, where terraform is installed
# validate needs the hashicorp/aws provider: from TF_PLUGIN_DIR when set, else `terraform
# init` downloads it from the registry (or a mirror in your CLI configuration); without it
# the target fails and says so. (A TF_CLI_CONFIG_FILE naming a missing file is dropped: it
# only adds a warning to every call.) It runs on a copy of terraform/ in a temporary directory, so
# no .terraform/ or lock file is left in the tree.
TF_DIRS := $(sort $(dir $(wildcard terraform/modules/*/main.tf terraform/modules/*/examples/*/main.tf terraform/envs/*/main.tf)))
tf-validate: export CHECKPOINT_DISABLE := 1
tf-validate: export TF_IN_AUTOMATION := 1
tf-validate:
	@if ! command -v terraform >/dev/null 2>&1; then \
		echo "tf-validate: terraform is not installed: terraform fmt -check and terraform validate were NOT run."; \
		echo "tf-validate: make test still checks the HCL without it (checkov, tests/unit/terraform)."; \
		exit 0; \
	fi; \
	if [ -n "$${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$$TF_CLI_CONFIG_FILE" ]; then \
		unset TF_CLI_CONFIG_FILE; \
	fi; \
	echo "terraform fmt -check -recursive terraform"; \
	terraform fmt -check -recursive -diff terraform || exit 1; \
	work=$$(mktemp -d) && trap 'rm -rf "$$work"' EXIT && cp -r terraform "$$work/" || exit 1; \
	for dir in $(TF_DIRS); do \
		if ! terraform -chdir="$$work/$$dir" init -backend=false -input=false -no-color \
				$(if $(TF_PLUGIN_DIR),-plugin-dir="$(TF_PLUGIN_DIR)") >"$$work/init.log" 2>&1; then \
			echo "tf-validate: terraform init failed in $$dir (provider: registry or mirror unreachable?):"; \
			tail -5 "$$work/init.log"; \
			echo "tf-validate: terraform validate was NOT run."; \
			exit 1; \
		fi; \
		echo "terraform validate $$dir"; \
		terraform -chdir="$$work/$$dir" validate -no-color || exit 1; \
	done
