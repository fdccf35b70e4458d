# Platform manifests (apps/, clusters/): render one kustomization, run their tests.

RENDER ?= clusters/dev

##@ Platform manifests
.PHONY: render
render: go-tools ## Print what Argo CD applies for RENDER (default clusters/dev), e.g. make render RENDER=apps/airflow/overlays/prod
	@test -f $(ROOT)/$(RENDER)/kustomization.yaml || { echo "render: $(RENDER) has no kustomization.yaml" >&2; exit 2; }
	@$(TOOLS_DIR)/bin/kustomize build $(ROOT)/$(RENDER)

.PHONY: namespaces
namespaces: venv ## Regenerate every namespace's Namespace + default-deny + allow-DNS from apps/namespaces/namespaces.yaml
	@$(PY) $(ROOT)/apps/namespaces/scripts/render_namespaces.py

.PHONY: manifests-test
manifests-test: venv go-tools ## Run only the platform manifest tests (tests/manifests, both clusters)
	@mkdir -p $(RUN_DIR)/reports
	@$(PY) -m pytest -q tests/manifests $(PYTEST_ARGS)
