##@ Static gate
.PHONY: validate
validate: venv go-tools schemas ## Render every cluster and check it: yamllint, kustomize, kubeconform -strict (K8s + CRDs), policies
	@$(PY) -m tools.gate --json $(RUN_DIR)/gate/report.json

.PHONY: validate-policies
validate-policies: go-tools ## Type-check the Rego policies (opa check --strict)
	@$(TOOLS_DIR)/bin/opa check --strict $(ROOT)/policies
	@echo "opa check: ok"

BENCH_TARGETS += bench-gate
.PHONY: bench-gate
bench-gate: venv go-tools schemas ## Time the static gate on all clusters (warm) and count the objects
	@$(PY) -m tools.gate.bench --runs 3 --out $(RUN_DIR)/bench/gate.json
