# The single entry point: the same targets run on a laptop and in Jenkins.
# `make help` is the table of contents.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PYTHON_BASE ?= python3.11
VENV        := $(ROOT)/.venv
PY          := $(VENV)/bin/python
TOOLS_DIR   := $(ROOT)/.tools
RUN_DIR     := $(ROOT)/.run
CLUSTERS    := $(notdir $(wildcard $(ROOT)/clusters/*))

# Spark needs Java 17; Jenkins agents and laptops may have several JDKs.
JAVA_HOME   ?= $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/temurin-17*))
export JAVA_HOME
export PATH := $(TOOLS_DIR)/bin:$(VENV)/bin:$(PATH)
export SPARK_LOCAL_IP := 127.0.0.1
export PYTHONDONTWRITEBYTECODE := 1

# Each area adds its own targets (and prerequisites of `setup`) in a fragment next to its code.
SETUP_TARGETS := venv go-tools schemas
include $(sort $(wildcard $(ROOT)/tools/*.mk $(ROOT)/jobs/*.mk $(ROOT)/dags/*.mk \
                          $(ROOT)/jenkins/*.mk $(ROOT)/apps/*.mk $(ROOT)/tests/*.mk))

##@ Start here
.PHONY: help
help: ## List every target with one line (this page)
	@awk 'BEGIN {FS = ":.*## "} \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5); next } \
	  /^[a-zA-Z0-9_.-]+:.*## / { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: setup
setup: $(SETUP_TARGETS) ## Install everything the other targets need (Python venv, Go tools, schemas)

.PHONY: test
test: setup lint validate unit ## Run every offline gate: lint, static gate, all tests (what CI runs)

.PHONY: e2e
e2e: setup $(E2E_TARGETS) ## Run the end-to-end suites against live local servers (control plane, Airflow)

# One JUnit file per suite (.run/reports/e2e-<suite>.xml), so the suites of one build do not overwrite
# each other's report and Jenkins publishes them apart from the unit tests' junit.xml.
$(E2E_TARGETS): PYTEST_ARGS += --junitxml=$(RUN_DIR)/reports/$@.xml

.PHONY: bench
bench: setup $(BENCH_TARGETS) ## Run every benchmark; results are printed and kept under .run/bench

##@ Python environment
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum $(ROOT)/requirements.lock 2>/dev/null | cut -c1-16)

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv from requirements.lock (re-synced when the lock changes)

$(VENV_STAMP): $(ROOT)/requirements.lock
	@command -v $(PYTHON_BASE) >/dev/null || { echo "need $(PYTHON_BASE) on PATH" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	@echo "==> syncing .venv with requirements.lock"
	@$(VENV)/bin/uv pip sync --quiet --python $(PY) $(ROOT)/requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

.PHONY: lock
lock: ## Re-resolve requirements.in into requirements.lock (after changing a pin)
	@test -x $(VENV)/bin/uv || { $(PYTHON_BASE) -m venv $(VENV) && $(PY) -m pip install --quiet uv==0.13.8; }
	$(VENV)/bin/uv pip compile $(ROOT)/requirements.in --python-version 3.11 --generate-hashes -o $(ROOT)/requirements.lock
	@# Each image's own lock: its requirements.in resolved with requirements.lock as constraints,
	@# so an image can only ever carry the repository's pins.
	@for dir in $(ROOT)/jobs/images/*/; do dir=$${dir%/}; test -f $$dir/requirements.in || continue; \
	  $(VENV)/bin/uv pip compile $$dir/requirements.in --constraint $(ROOT)/requirements.lock \
	    --python-version 3.11 --generate-hashes --no-header --quiet -o $$dir/requirements.lock; done

##@ Checks
# .pre-commit-config.yaml runs exactly the prerequisites of `lint`, one hook each
# (tests/toolchain/test_lint_config.py keeps the two equal).
.PHONY: lint
lint: lint-yaml lint-python ## Every linter: yamllint (YAML) and ruff (Python), committed configs

.PHONY: lint-yaml
lint-yaml: venv ## yamllint every YAML file with the committed config (.yamllint.yaml)
	@cd $(ROOT) && $(VENV)/bin/yamllint --strict -c .yamllint.yaml .
	@echo "yamllint: ok"

.PHONY: lint-python
lint-python: venv ## ruff check every Python file with the committed config ([tool.ruff] in pyproject.toml)
	@cd $(ROOT) && $(VENV)/bin/ruff check --config pyproject.toml .

.PHONY: unit
unit: setup ## Run the pytest suite (everything but e2e); no tests collected is a failure
	@mkdir -p $(RUN_DIR)/reports
	@$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

.PHONY: clean
clean: ## Remove run state (.run); keep the venv and the built tools
	rm -rf $(RUN_DIR)

.PHONY: distclean
distclean: clean ## Remove everything setup created (.venv, .tools)
	rm -rf $(VENV) $(TOOLS_DIR)
