##@ Local platform (PostgreSQL + git daemon + git-sync + Airflow 3 + alert receivers)
LOCALPLATFORM := cd $(ROOT) && $(PY) -m tools.localplatform

.PHONY: localplatform-deps
localplatform-deps: venv ## Install what the local platform needs from Debian (PostgreSQL server, Chromium) if missing
	@$(ROOT)/tools/localplatform/install-deps.sh

.PHONY: up
up: localplatform-deps ## Start the local platform; prints the Airflow UI URL and login
	@$(LOCALPLATFORM) up

.PHONY: down
down: venv ## Stop everything `make up` started (by PID/process group) and report strays
	@$(LOCALPLATFORM) down

.PHONY: platform-status
platform-status: venv ## Show which local platform services are running
	@$(LOCALPLATFORM) status

E2E_TARGETS += e2e-airflow
.PHONY: e2e-airflow
e2e-airflow: localplatform-deps ## Live loop: push DAG -> git-sync -> parse -> run -> alert mail/webhook, UI in Chromium
	@mkdir -p $(RUN_DIR)/reports
	@cd $(ROOT) && $(PY) -m pytest -m e2e tests/e2e/airflow $(PYTEST_ARGS)

.PHONY: airflow-ui-screenshot
airflow-ui-screenshot: localplatform-deps ## Log in to the running local Airflow in Chromium and refresh the committed screenshot
	@cd $(ROOT) && $(PY) -m tools.localplatform.ui tools/localplatform/screenshots/airflow-ui.png

BENCH_TARGETS += bench-dag-latency
.PHONY: bench-dag-latency
bench-dag-latency: localplatform-deps ## Merge -> DAG parsed latency (>=10 pushes), repo settings vs Airflow defaults
	@cd $(ROOT) && $(PY) -m tools.localplatform.bench --out $(RUN_DIR)/bench/dag-latency.json \
	  --markdown tools/localplatform/BENCHMARKS.md
