##@ Static gate
SETUP_TARGETS += psa-oracle

.PHONY: psa-oracle
psa-oracle: ## Build the Pod Security oracle (k8s.io/pod-security-admission at the API server's version) into .tools/bin
	@$(ROOT)/tools/psa-oracle/build.sh

.PHONY: validate
validate: venv go-tools schemas psa-oracle ## Render every cluster and check it (yamllint, kustomize, kubeconform -strict, policies, Pod Security oracle); scan git for secrets
	@$(PY) -m tools.gate --show-parity --json $(RUN_DIR)/gate/report.json
	@$(PY) -m tools.gate.secrets_scan

.PHONY: validate-policies
validate-policies: go-tools ## Type-check the Rego policies (opa check --strict)
	@$(TOOLS_DIR)/bin/opa check --strict $(ROOT)/policies
	@echo "opa check: ok"

BENCH_TARGETS += bench-gate
.PHONY: bench-gate
bench-gate: venv go-tools schemas psa-oracle ## Time the static gate on all clusters (warm) and count the objects
	@$(PY) -m tools.gate.bench --runs 3 --out $(RUN_DIR)/bench/gate.json
