# Data pipeline: PySpark jobs (jobs/etl), their images, the DAGs that run them, and their bench.

##@ Data pipeline
RUN_DATE ?= 2026-11-27
RUN_ROWS ?= 20000

.PHONY: run
run: venv ## Run the example ETL DAG end to end locally (Airflow + SQLite, Spark local[*]) and print where the results are
	@$(PY) $(ROOT)/dags/mlops_dags/local_run.py --dag events_features --date $(RUN_DATE) --rows $(RUN_ROWS) --run-dir $(RUN_DIR)

.PHONY: run-weather
run-weather: venv ## Run the seattle_weather DAG (real dataset from vega_datasets) end to end locally
	@$(PY) $(ROOT)/dags/mlops_dags/local_run.py --dag seattle_weather --date $(RUN_DATE) --run-dir $(RUN_DIR)

DAG ?=
JOB ?=

.PHONY: run-dag
run-dag: venv ## Run any DAG end to end locally: make run-dag DAG=<dag_id> [JOB=<job>: write that job's sample input first]
	@test -n "$(DAG)" || { echo "usage: make run-dag DAG=<dag_id> [JOB=<job>]" >&2; exit 2; }
	@$(PY) $(ROOT)/dags/mlops_dags/local_run.py --dag "$(DAG)" --date $(RUN_DATE) --run-dir $(RUN_DIR) \
	  $(if $(JOB),--sample-input "$(JOB)")

.PHONY: generate-events
generate-events: venv ## Write seeded raw events for RUN_DATE (RUN_ROWS rows) under .run/data/raw/events
	@PYTHONPATH=$(ROOT)/jobs $(PY) -m etl.generate --raw-root $(RUN_DIR)/data/raw/events --date $(RUN_DATE) --rows $(RUN_ROWS)

.PHONY: test-data
test-data: venv ## Only the pipeline tests (jobs + DAGs)
	@mkdir -p $(RUN_DIR)/reports
	@$(PY) -m pytest -m "not e2e" $(ROOT)/tests/jobs $(ROOT)/tests/dags $(PYTEST_ARGS)

BENCH_TARGETS += bench-etl

.PHONY: bench-etl
bench-etl: venv ## Spark local[2] vs DuckDB on 1M/5M/20M rows (rows/s, peak RSS) + DAG parse times -> jobs/BENCHMARKS.md
	@PYTHONPATH=$(ROOT)/jobs $(PY) $(ROOT)/jobs/bench/run_etl_bench.py --bench-dir $(RUN_DIR)/bench --markdown $(ROOT)/jobs/BENCHMARKS.md

##@ Scaffolding (add a job / a DAG)
# Where new files go; tests point this at a copy of the repository.
SCAFFOLD_ROOT ?= $(ROOT)

.PHONY: new-job
new-job: venv ## Scaffold a new PySpark job: module in jobs/etl, CLI step, test skeleton
	@test -n "$(NAME)" || { echo "usage: make new-job NAME=<snake_name>" >&2; exit 2; }
	@PYTHONPATH=$(ROOT)/jobs $(PY) -m scaffold.new --root "$(SCAFFOLD_ROOT)" job "$(NAME)"

.PHONY: new-dag
new-dag: venv ## Scaffold a new DAG (local Spark or SparkKubernetesOperator by ETL_SPARK_MODE) with retries, owner, alerts and a test
	@test -n "$(NAME)" || { echo "usage: make new-dag NAME=<dag_id> [JOB=<job>]" >&2; exit 2; }
	@PYTHONPATH=$(ROOT)/jobs $(PY) -m scaffold.new --root "$(SCAFFOLD_ROOT)" dag "$(NAME)" --job "$(or $(JOB),$(NAME))"
