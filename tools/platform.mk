##@ Local platform (Argo CD syncing this repository into the local cluster)
PLATFORM_PY = cd $(ROOT) && $(PY) -m tools.platform

.PHONY: platform-tools
platform-tools: ## Build the platform's components at their pins (argocd, helm, ...) into .tools/bin
	@$(ROOT)/tools/toolchain/build-go-tools.sh $(ROOT)/tools/platform/go-tools.txt

# Like every listed Go tool, `make setup` builds them (tests check each list is built at its pin).
SETUP_TARGETS += platform-tools

# Rendering the cluster (what platform-up applies and what Argo CD is compared with) needs the pinned
# kustomize of go-tools; without it a fresh clone's `make platform-up` fails at its first render.
PLATFORM_PREREQS := $(K8S_PREREQS) platform-tools go-tools

.PHONY: platform-up
platform-up: k8s-up images go-tools ## Local cluster + images + Keycloak for its login + Argo CD syncing this repo from a local git server; waits for every Application Synced+Healthy
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

# `make e2e` runs this suite inside e2e-cluster (below), after the node checks on the same cluster.
.PHONY: e2e-argocd
e2e-argocd: $(PLATFORM_PREREQS) ## Argo CD alone: every Application Synced+Healthy, gate parity, webhook merges, bad merge, self-heal, drift, least privilege, SSO login and RBAC
	@mkdir -p $(RUN_DIR)/reports
	@$(MAKE) --no-print-directory platform-up
	@cd $(ROOT) && status=0; $(PY) -m pytest -m e2e tests/e2e/argocd -p no:cacheprovider \
	  --junitxml=$(RUN_DIR)/reports/junit-argocd.xml $(PYTEST_ARGS) || status=$$?; \
	  $(PY) -m tools.platform down || status=1; exit $$status

# `make e2e` runs this suite inside e2e-cluster (below), after the Argo CD suite on the same platform.
.PHONY: e2e-dataloop
e2e-dataloop: $(PLATFORM_PREREQS) ## The data loop alone: events_features via Airflow's REST API, task pods, Spark executors 0->N->0, oracle on s3a, re-run, alerts, both HPAs under load
	@mkdir -p $(RUN_DIR)/reports
	@$(MAKE) --no-print-directory platform-up
	@cd $(ROOT) && status=0; $(PY) -m pytest -m e2e tests/e2e/dataloop -p no:cacheprovider \
	  --junitxml=$(RUN_DIR)/reports/e2e-dataloop.xml $(PYTEST_ARGS) || status=$$?; \
	  $(PY) -m tools.platform down || status=1; exit $$status

# Every suite that needs the one-node cluster shares one bring-up (starting it and pulling the images
# onto a fresh node is minutes): the node checks on the bare cluster, then Argo CD syncs the platform
# onto that same cluster and its suite runs, then the data loop's, then the kill/recover/stop test
# ends it. Each suite keeps its own report; a failed suite does not skip the later ones, and the
# cluster is always stopped.
E2E_TARGETS += e2e-cluster
.PHONY: e2e-cluster
e2e-cluster: $(PLATFORM_PREREQS) ## e2e-k8s, e2e-argocd and e2e-dataloop on one cluster bring-up, then kill/recover/stop (what `make e2e` runs)
	@mkdir -p $(RUN_DIR)/reports
	@cd $(ROOT) && status=0; suite() { name=$$1; shift; \
	    $(PY) -m pytest -m e2e -p no:cacheprovider "$$@" $(PYTEST_ARGS) \
	      --junitxml=$(RUN_DIR)/reports/e2e-$$name.xml || { echo "e2e-cluster: suite $$name failed" >&2; status=1; }; }; \
	  if $(MAKE) images && $(K8S_PY) up --state-dir $(K8S_DIR); then \
	    suite k8s tests/e2e/k8s --ignore=tests/e2e/k8s/test_k8s_zz_lifecycle.py; \
	    $(PLATFORM_PY) up || { echo "e2e-cluster: platform-up failed" >&2; status=1; }; \
	    suite argocd tests/e2e/argocd; \
	    suite dataloop tests/e2e/dataloop; \
	    suite lifecycle tests/e2e/k8s/test_k8s_zz_lifecycle.py; \
	  else status=1; fi; \
	  $(PLATFORM_PY) down || status=1; exit $$status

BENCH_TARGETS += bench-argocd
.PHONY: bench-argocd
bench-argocd: venv ## On a running platform: merge -> Synced through the webhook, p50/p95 over 10 merges; selfHeal time
	@$(PLATFORM_PY) bench --out $(RUN_DIR)/bench/argocd.json

BENCH_TARGETS += bench-dataloop
.PHONY: bench-dataloop
bench-dataloop: $(PLATFORM_PREREQS) ## On the local platform (started if needed): one events_features run (task queued->running, driver->first executor, executors 0->N->0), both HPAs' timelines, rows/s vs local mode on the same input
	@$(MAKE) --no-print-directory platform-up
	@cd $(ROOT) && $(PY) -m pytest -m e2e -p no:cacheprovider -q $(PYTEST_ARGS) \
	  tests/e2e/dataloop/test_dataloop_10_events_features.py tests/e2e/dataloop/test_dataloop_40_hpa.py \
	  tests/e2e/dataloop/test_dataloop_50_worker_hpa.py
	@cd $(ROOT) && PYTHONPATH=$(ROOT)/jobs $(PY) jobs/bench/dataloop_local.py --bench-dir $(RUN_DIR)/bench
	@cat $(RUN_DIR)/bench/dataloop.json
