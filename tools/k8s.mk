##@ Local Kubernetes (one real node: kubelet + containerd in a network namespace of its own)
K8S_DIR := $(RUN_DIR)/k8s
K8S_PY   = cd $(ROOT) && $(PY) -m tools.k8s

.PHONY: k8s-deps
k8s-deps: ## Install the node's Debian packages when missing (containerd, runc, CNI plugins, buildah, mmdebstrap)
	@$(ROOT)/tools/k8s/install-deps.sh

.PHONY: k8s-tools
k8s-tools: ## Build the cluster add-ons at their pins (CoreDNS, metrics-server, local-path provisioner)
	@$(ROOT)/tools/toolchain/build-go-tools.sh $(ROOT)/tools/k8s/go-tools.txt

# `make setup` builds the add-ons too, like every other listed Go tool (tests check each list is built).
SETUP_TARGETS += k8s-tools
K8S_PREREQS := venv k8s-deps controlplane-build jenkins-tools k8s-tools

.PHONY: k8s-up
k8s-up: $(K8S_PREREQS) ## Start the one-node cluster (kubeconfig: .run/k8s/kubeconfig); a no-op when it runs
	@$(K8S_PY) up --state-dir $(K8S_DIR)

.PHONY: k8s-down
k8s-down: venv ## Stop the cluster; leaves no process, mount, network namespace, veth, iptables rule or cgroup
	@$(K8S_PY) down --state-dir $(K8S_DIR)

.PHONY: k8s-status
k8s-status: venv ## Show the cluster's components and whether the node is Ready
	@$(K8S_PY) status --state-dir $(K8S_DIR)

.PHONY: images
images: $(K8S_PREREQS) platform-tools go-tools ## Build every image (jobs, CI agent, node, platform) with buildah, push to the local registry: image <name> <ref>@<digest>
	@cd $(ROOT) && $(PY) -m tools.images --tag $(GIT_SHA) $(IMAGES_ARGS)

# `make e2e` runs this suite inside e2e-cluster (tools/platform.mk), on the cluster Argo CD then uses.
.PHONY: e2e-k8s
e2e-k8s: $(K8S_PREREQS) ## On the real node alone: images run under restricted PSA, DNS, Services, metrics, PVCs, digests, clean stop
	@mkdir -p $(RUN_DIR)/reports
	@cd $(ROOT) && $(PY) -m tools.images --tag $(GIT_SHA) --group jobs --group ci
	@$(K8S_PY) up --state-dir $(K8S_DIR)
	@cd $(ROOT) && status=0; $(PY) -m pytest -m e2e tests/e2e/k8s \
	  --junitxml=$(RUN_DIR)/reports/junit-k8s.xml $(PYTEST_ARGS) || status=$$?; \
	  $(PY) -m tools.k8s down --state-dir $(K8S_DIR) || status=1; exit $$status

BENCH_TARGETS += bench-k8s
.PHONY: bench-k8s
bench-k8s: $(K8S_PREREQS) ## Time k8s-up (from nothing, and when up), images (build vs cache hit), pod start p50/p95
	@cd $(ROOT) && $(PY) -m tools.k8s.bench --out $(RUN_DIR)/bench/k8s.json
