##@ Local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager, no kubelet)
CONTROLPLANE_DIR := $(RUN_DIR)/controlplane

.PHONY: controlplane-build
controlplane-build: ## Build etcd, kube-apiserver, kube-controller-manager, kubectl at the pinned versions (cached)
	@$(ROOT)/tools/controlplane/build.sh

.PHONY: controlplane-modules
controlplane-modules: ## Regenerate tools/controlplane/modules/*/go.mod+go.sum after changing the pins
	@$(ROOT)/tools/controlplane/sync-modules.sh

.PHONY: cluster-up
cluster-up: venv controlplane-build ## Start the local control plane on 127.0.0.1 (kubeconfig: .run/controlplane/kubeconfig); no-op if it already runs
	@cd $(ROOT) && $(PY) -m tools.controlplane.cluster up --state-dir $(CONTROLPLANE_DIR)

.PHONY: cluster-down
cluster-down: venv ## Stop every process of the local control plane (found by command line) and wait until none is left
	@cd $(ROOT) && $(PY) -m tools.controlplane.cluster down --state-dir $(CONTROLPLANE_DIR)

.PHONY: cluster-status
cluster-status: venv ## Show each component (running, exited, not ready); exit 0 healthy, 1 degraded, 3 not running
	@cd $(ROOT) && $(PY) -m tools.controlplane.cluster status --state-dir $(CONTROLPLANE_DIR)

E2E_TARGETS += e2e-controlplane
.PHONY: e2e-controlplane
e2e-controlplane: venv controlplane-build schemas ## Server-side apply every cluster overlay to a real API server and prove HPA/RBAC/Secret rules
	@mkdir -p $(RUN_DIR)/reports
	@cd $(ROOT) && $(PY) -m pytest -m e2e tests/e2e/controlplane \
	  --junitxml=$(RUN_DIR)/reports/junit-controlplane.xml $(PYTEST_ARGS)

BENCH_TARGETS += bench-controlplane
.PHONY: bench-controlplane
bench-controlplane: venv controlplane-build schemas ## Time control-plane start, CRD install, dry-run/apply/re-apply per cluster
	@cd $(ROOT) && $(PY) -m tools.controlplane.bench --out $(RUN_DIR)/bench/controlplane.json
