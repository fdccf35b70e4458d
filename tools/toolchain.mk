# Pinned Go tools (.tools/bin) and the offline kubeconform schemas (.tools/schemas, .tools/crds).
# Versions come from tools/versions.env; a tool or the schemas are rebuilt only when their pins change.

TOOLCHAIN_DIR := $(ROOT)/tools/toolchain
VERSIONS_ENV  := $(ROOT)/tools/versions.env

##@ Toolchain
.PHONY: go-tools
go-tools: ## Build the pinned Go tools (kubeconform, kustomize, opa, ...) into .tools/bin
	@$(TOOLCHAIN_DIR)/build-go-tools.sh

# The schemas depend on: the K8s and CRD-module pins, the generator code, and the locked
# kubernetes-validate package (source of the K8s schemas). Hash exactly those, so an unrelated
# pin change in versions.env does not trigger a rebuild.
SCHEMAS_KEY = $(shell { grep -E '^(K8S_TARGET|K8S_NEXT|[A-Z_]+_MODULE)_VERSION=' $(VERSIONS_ENV); \
                        cat $(filter-out %/bench.py,$(wildcard $(ROOT)/tools/schemas/*.py)); \
                        grep -E '^kubernetes-validate==' $(ROOT)/requirements.lock; } \
                      | sha256sum | cut -c1-16)
SCHEMAS_STAMP = $(TOOLS_DIR)/stamps/schemas-$(SCHEMAS_KEY)

.PHONY: schemas
schemas: venv ## Write K8s + CRD JSON schemas for kubeconform into .tools/schemas (offline)
	@test -f $(SCHEMAS_STAMP) -a -f $(TOOLS_DIR)/schemas/index.json || { \
	  cd $(ROOT) && $(PY) -m tools.schemas --versions $(VERSIONS_ENV) \
	    --schemas-dir $(TOOLS_DIR)/schemas --crds-dir $(TOOLS_DIR)/crds \
	  && rm -f $(TOOLS_DIR)/stamps/schemas-* && touch $(SCHEMAS_STAMP); }

.PHONY: toolchain-test
# setup, not just go-tools: the tests check every area's go-tools.txt list (jenkins, monitoring, ...).
toolchain-test: setup ## Run only the toolchain tests (every listed Go tool at its pin, schemas reject bad objects)
	@$(PY) -m pytest tests/toolchain $(PYTEST_ARGS)

BENCH_TARGETS += bench-kubeconform
.PHONY: bench-kubeconform
bench-kubeconform: go-tools schemas ## Time kubeconform on 300 objects: our self-contained schemas vs shared definitions
	@cd $(ROOT) && $(PY) -m tools.schemas.bench --objects 300 --runs 3 --out $(RUN_DIR)/bench/kubeconform.json
