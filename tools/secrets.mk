##@ Secrets
# make rotate-secret SECRET=airflow-fernet-key NAMESPACE=airflow CLUSTER=dev [DRY_RUN=1]
# Acts on the current kube context (KUBECONFIG); the plan comes from the rendered clusters/<env>.
SECRET    ?=
NAMESPACE ?=
CLUSTER   ?=
DRY_RUN   ?=

.PHONY: rotate-secret
rotate-secret: venv go-tools ## Rotate a secret: after the new value is in Secure Key Manager, force External Secrets to re-read it and restart the workloads that use it
	@if [ -z "$(SECRET)" ] || [ -z "$(CLUSTER)" ]; then \
	  echo "usage: make rotate-secret SECRET=<ExternalSecret name> NAMESPACE=<ns> CLUSTER=<$(subst $() ,|,$(CLUSTERS))> [DRY_RUN=1]" >&2; \
	  exit 2; fi
	@cd $(ROOT) && $(PY) -m tools.secrets --cluster "$(CLUSTER)" --secret "$(SECRET)" \
	  $(if $(NAMESPACE),--namespace "$(NAMESPACE)") $(if $(filter-out 0,$(DRY_RUN)),--dry-run)

E2E_TARGETS += e2e-secrets
.PHONY: e2e-secrets
e2e-secrets: venv go-tools controlplane-build schemas ## Rotate a secret on a live local control plane with the dev cluster applied
	@mkdir -p $(RUN_DIR)/reports
	@cd $(ROOT) && $(PY) -m pytest -m e2e tests/e2e/secrets \
	  --junitxml=$(RUN_DIR)/reports/junit-secrets.xml $(PYTEST_ARGS)

.PHONY: rotate-fernet-key
rotate-fernet-key: venv go-tools ## Fernet key step 2: run `airflow rotate-fernet-key` in a scheduler pod that already has "new,old" keys
	@if [ -z "$(CLUSTER)" ]; then echo "usage: make rotate-fernet-key CLUSTER=<$(subst $() ,|,$(CLUSTERS))>" >&2; exit 2; fi
	@cd $(ROOT) && $(PY) -m tools.secrets.fernet --cluster "$(CLUSTER)"
