##@ CI/CD (Jenkins)
# Every Jenkinsfile stage calls one of these (or lint/validate/unit/e2e/bench), so a laptop runs exactly
# what Jenkins runs. Python code lives in jenkins/ci_tools (importable as `ci_tools`).

# jenkins/ for ci_tools, the repo root for tools.gate (the preview renders with the gate's code).
CI_PY          := PYTHONPATH=$(ROOT)/jenkins:$(ROOT) $(PY)
JENKINS_PIN     = $(shell sed -n 's/^$(1)=//p' $(ROOT)/tools/versions.env)
GROOVY_VERSION := $(call JENKINS_PIN,GROOVY_VERSION)
GROOVY_JAR     := $(TOOLS_DIR)/groovy/groovy-$(GROOVY_VERSION).jar
IMAGES_DIR     ?= $(RUN_DIR)/images
PREVIEW_DIR    ?= $(RUN_DIR)/preview
BASE           ?= origin/main
# Builds on main deploy to dev only; prod moves by `make promote` (a reviewed PR).
BUMP_CLUSTERS  ?= dev
GIT_SHA        ?= $(shell git -C $(ROOT) rev-parse HEAD 2>/dev/null)

SETUP_TARGETS += jenkins-tools

.PHONY: jenkins-tools
jenkins-tools: $(GROOVY_JAR) ## Build registry + crane (Go proxy) and fetch Apache Groovy (Maven) into .tools
	@$(ROOT)/tools/toolchain/build-go-tools.sh $(ROOT)/jenkins/go-tools.txt

# The jar name carries the pin, so changing GROOVY_VERSION fetches the new one.
$(GROOVY_JAR):
	@echo "==> fetching org.apache.groovy:groovy:$(GROOVY_VERSION)"
	@mvn -B -q -Dmaven.repo.local=$(TOOLS_DIR)/m2 dependency:copy \
	  -Dartifact=org.apache.groovy:groovy:$(GROOVY_VERSION) -DoutputDirectory=$(TOOLS_DIR)/groovy
	@test -f $@

.PHONY: jenkinsfile-check
jenkinsfile-check: $(GROOVY_JAR) ## Parse the Jenkinsfile with Apache Groovy and dry-run its PR and main paths
	@$(CI_PY) -m ci_tools.pipeline_check --groovy-jar $(GROOVY_JAR) $(ROOT)/Jenkinsfile

.PHONY: preview
preview: venv ## PR preview: object diff of every cluster between BASE (default origin/main) and HEAD -> .run/preview
	@$(CI_PY) -m ci_tools.preview --repo $(ROOT) --base $(BASE) --head HEAD --out $(PREVIEW_DIR) $(PREVIEW_ARGS)

.PHONY: images-kaniko
images-kaniko: venv ## Build + push job images with kaniko (Jenkins kaniko container only; elsewhere prints the plan, exits 3)
	@$(CI_PY) -m ci_tools.images build --repo $(ROOT) --tag $(GIT_SHA) --records $(IMAGES_DIR)

.PHONY: images-script
images-script: venv ## Write .run/images/kaniko.sh: the kaniko build+push calls the kaniko container runs
	@$(CI_PY) -m ci_tools.images script --repo $(ROOT) --tag $(GIT_SHA) --records $(IMAGES_DIR)

.PHONY: images-record
images-record: venv ## After kaniko.sh: check each pushed digest against the registry, write .run/images/*.json
	@$(CI_PY) -m ci_tools.images record --repo $(ROOT) --tag $(GIT_SHA) --records $(IMAGES_DIR) $(IMAGES_RECORD_ARGS)

.PHONY: images-plan
images-plan: venv ## Print which images Jenkins (kaniko) would build and push, with their tags
	@$(CI_PY) -m ci_tools.images plan --repo $(ROOT) --tag $(GIT_SHA)

.PHONY: bump
bump: venv ## Set an image in the overlays: IMAGE=name TAG=t and/or DIGEST=sha256:.. [BUMP_CLUSTERS=dev,prod]; commit + push
	@$(CI_PY) -m ci_tools.bump --repo $(ROOT) --image "$(IMAGE)" --tag "$(TAG)" --digest "$(DIGEST)" \
	  --clusters $(BUMP_CLUSTERS) --summary-file $(RUN_DIR)/bump/summary.txt

.PHONY: bump-built
bump-built: venv ## Bump every image `make images` pushed (records in .run/images) in one bot commit; push
	@$(CI_PY) -m ci_tools.bump --repo $(ROOT) --from-dir $(IMAGES_DIR) \
	  --clusters $(BUMP_CLUSTERS) --summary-file $(RUN_DIR)/bump/summary.txt

.PHONY: history
history: venv ## Recent builds of the pipeline (JENKINS_URL, JENKINS_USER, JENKINS_API_TOKEN, JOB=mlops-platform/main)
	@$(CI_PY) -m ci_tools.history --job "$${JOB:-mlops-platform/main}" --limit "$${LIMIT:-10}"

# The e2e suites by what they need. A PR runs those that start no local Kubernetes, unprivileged in the
# build pod; `make e2e` (main, in the privileged e2e pod) runs them all. Every suite in E2E_TARGETS is
# in exactly one list (tests/jenkins/test_agent_pods.py), so a new suite has to be placed knowingly.
E2E_NO_CLUSTER_TARGETS := e2e-airflow e2e-idp e2e-monitoring
E2E_CLUSTER_TARGETS    := e2e-controlplane e2e-secrets e2e-cluster

.PHONY: e2e-no-cluster
e2e-no-cluster: setup $(E2E_NO_CLUSTER_TARGETS) ## Run the e2e suites that need no local Kubernetes (what a pull request runs)

.PHONY: e2e-suites
e2e-suites: ## Print the e2e suites: all, those without a cluster, those with one (for the pipeline tests)
	@echo "all: $(sort $(E2E_TARGETS))"
	@echo "no-cluster: $(sort $(E2E_NO_CLUSTER_TARGETS))"
	@echo "cluster: $(sort $(E2E_CLUSTER_TARGETS))"

.PHONY: ci-skip-check
ci-skip-check: venv ## Print BOT_COMMIT=true when HEAD is a CI bot bump commit (Jenkins then skips the build), else =false
	@$(CI_PY) -m ci_tools.skip --repo $(ROOT)

.PHONY: release-commit-check
release-commit-check: venv ## Print RELEASE_COMMIT=true when HEAD only promotes/rolls back images (main builds nothing), else =false
	@$(CI_PY) -m ci_tools.skip --release --repo $(ROOT)

BENCH_TARGETS += bench-bump
.PHONY: bench-bump
bench-bump: venv jenkins-tools ## Time 20 concurrent bumps racing to one git remote -> .run/bench/jenkins-bump-concurrency.json
	@$(PY) -m pytest tests/jenkins/test_bump_concurrency.py -q -s -p no:cacheprovider --junitxml=$(RUN_DIR)/reports/bench-bump.xml
	@cat $(RUN_DIR)/bench/jenkins-bump-concurrency.json

##@ Releases
# Human release steps (not run by Jenkins): a promotion becomes a PR, a rollback a commit on this branch.

.PHONY: promote
promote: venv ## Promote an image from one cluster to another: copy the tag/digest dev runs into the prod overlays, validate, commit on a branch
	@$(CI_PY) -m ci_tools.promote --repo $(ROOT) --image "$(IMAGE)" --from "$(or $(FROM),dev)" --to "$(or $(TO),prod)" $(if $(filter 1,$(PUSH)),--push)

.PHONY: rollback
rollback: venv ## Roll back an image in one cluster to the version before its last bump: revert that bump, validate, commit
	@$(CI_PY) -m ci_tools.rollback --repo $(ROOT) --image "$(IMAGE)" --cluster "$(CLUSTER)" $(if $(filter 1,$(PUSH)),--push)
