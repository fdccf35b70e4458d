# Monitoring (apps/monitoring): promtool, prometheus and the exporters for the rule, dashboard and live tests.

MONITORING_DIR      := $(ROOT)/apps/monitoring
MONITORING_GO_TOOLS := $(MONITORING_DIR)/go-tools.txt
SETUP_TARGETS       += monitoring-tools

##@ Monitoring
.PHONY: monitoring-tools
monitoring-tools: ## Build the pinned promtool, prometheus, statsd_exporter, node_exporter into .tools/bin (skipped when up to date)
	@$(ROOT)/tools/toolchain/build-go-tools.sh $(MONITORING_GO_TOOLS)

.PHONY: monitoring-rules
monitoring-rules: venv ## Regenerate the PrometheusRule objects from apps/monitoring/base/rules/*.yaml
	@$(PY) $(MONITORING_DIR)/scripts/render_prometheus_rules.py

.PHONY: monitoring-check
monitoring-check: monitoring-tools ## promtool check + unit-test the alert rules (quick loop while editing rules)
	@$(TOOLS_DIR)/bin/promtool check rules $(MONITORING_DIR)/base/rules/*.yaml
	@cd $(ROOT)/tests/monitoring/rules && $(TOOLS_DIR)/bin/promtool test rules *.test.yaml

.PHONY: monitoring-test
monitoring-test: monitoring-tools venv ## Run only the offline monitoring tests (rules, dashboards, catalogue, adapter, manifests)
	@mkdir -p $(RUN_DIR)/reports
	@$(PY) -m pytest -m "not e2e" tests/monitoring $(PYTEST_ARGS)

E2E_TARGETS += e2e-monitoring
.PHONY: e2e-monitoring
e2e-monitoring: monitoring-tools venv ## Live: Prometheus loads the rules and runs every dashboard query on real Airflow StatsD data
	@mkdir -p $(RUN_DIR)/reports
	@$(PY) -m pytest -m e2e tests/monitoring $(PYTEST_ARGS)

BENCH_TARGETS += bench-monitoring
.PHONY: bench-monitoring
bench-monitoring: monitoring-tools venv ## Time promtool check/test on the rules and dashboards; count alerts, panels, metrics
	@$(PY) $(MONITORING_DIR)/scripts/bench_monitoring.py --runs 3 --out $(RUN_DIR)/bench/monitoring.json
