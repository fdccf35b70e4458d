##@ Local platform (Argo CD syncing this repository into the local cluster)
PLATFORM_PY = cd $(ROOT) && $(PY) -m tools.platform

.PHONY: platform-tools
platform-tools: ## Build the platform's components at their pins (argocd, helm, ...) into .tools/bin
	@$(ROOT)/tools/toolchain/build-go-tools.sh $(ROOT)/tools/platform/go-tools.txt

# Like every listed Go tool, `make setup` builds them (tests check each list is built at its pin).
SETUP_TARGETS += platform-tools
