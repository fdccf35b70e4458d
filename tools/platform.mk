##@ Local platform (Argo CD syncing this repository into the local cluster)
PLATFORM_PY = cd $(ROOT) && $(PY) -m tools.platform

.PHONY: platform-tools
platform-tools: ## Build the platform's components at their pins (argocd, helm, ...) into .tools/bin
	@$(ROOT)/tools/toolchain/build-go-tools.sh $(ROOT)/tools/platform/go-tools.txt

# Like every listed Go tool, `make setup` builds them (tests check each list is built at its pin).
SETUP_TARGETS += platform-tools

.PHONY: platform-up
platform-up: k8s-up images ## Local cluster + images + Argo CD syncing this repo from a local git server; waits for every Application Synced+Healthy
	@$(PLATFORM_PY) up

.PHONY: platform-down
platform-down: venv ## Stop the local platform (the whole local cluster); nothing of ours is left
	@$(PLATFORM_PY) down

.PHONY: status
status: venv ## One line per Argo CD Application of the local platform (argocd CLI): sync, health, revision
	@$(PLATFORM_PY) status

.PHONY: drift
drift: venv ## Exit non-zero and print the diff when any Application of the local platform is OutOfSync
	@$(PLATFORM_PY) drift

E2E_TARGETS += e2e-argocd
.PHONY: e2e-argocd
e2e-argocd: $(K8S_PREREQS) platform-tools ## Argo CD for real: every Application Synced+Healthy, gate parity, webhook merges, self-heal, drift, least privilege
	@mkdir -p $(RUN_DIR)/reports
	@$(MAKE) --no-print-directory platform-up
	@cd $(ROOT) && status=0; $(PY) -m pytest -m e2e tests/e2e/argocd -p no:cacheprovider \
	  --junitxml=$(RUN_DIR)/reports/junit-argocd.xml $(PYTEST_ARGS) || status=$$?; \
	  $(PY) -m tools.platform down || status=1; exit $$status

BENCH_TARGETS += bench-argocd
.PHONY: bench-argocd
bench-argocd: venv ## On a running platform: merge -> Synced through the webhook, p50/p95 over 10 merges; selfHeal time
	@$(PLATFORM_PY) bench --out $(RUN_DIR)/bench/argocd.json
