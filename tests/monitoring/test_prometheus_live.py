"""Live: the pinned Prometheus loads our rule files and runs every dashboard query on real Airflow
data (Airflow's metrics code -> StatsD -> statsd_exporter with our mapping -> Prometheus scrape).

promtool proves the queries parse; this proves they execute (vector matching, functions on real
series) and that the Airflow panels show data once Airflow reports.
"""
from __future__ import annotations

import time

import pytest
import requests
import yaml
from live_support import airflow_stats, emit_registry, free_port, running, statsd_exporter
from monitoring_support import (
    DASHBOARDS_DIR,
    RULES_DIR,
    catalogue,
    concrete_expr,
    metric_names,
    panel_queries,
    tool,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def query(base: str, expr: str) -> dict:
    response = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    return response.json()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_rules_load_and_dashboard_queries_run_on_live_airflow_data(tmp_path, monkeypatch):
    rule_files = sorted(str(p) for p in RULES_DIR.glob("*.yaml"))
    with statsd_exporter(tmp_path) as (udp_port, exporter_port):
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "scrape_configs": [{
                "job_name": "airflow-statsd-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                # Same filter as the ServiceMonitor airflow-statsd-exporter.
                "metric_relabel_configs": [{"source_labels": ["__name__"], "regex": "airflow_.*", "action": "keep"}],
            }],
        }))
        base = f"http://127.0.0.1:{port}"
        command = [str(tool("prometheus")), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                   f"--web.listen-address=127.0.0.1:{port}"]
        with running(command, f"{base}/-/ready", tmp_path / "prometheus.log"):
            with airflow_stats(monkeypatch, udp_port) as stats:
                # Two rounds of every Airflow metric a few scrapes apart, so counters move.
                emit_registry(stats, seconds=60)
                wait_until(lambda: query(base, "airflow_scheduler_heartbeat_total")["data"]["result"], 30,
                           "the first round to be scraped")
                time.sleep(3)
                emit_registry(stats, seconds=120)
            wait_until(lambda: [r for r in query(base, "airflow_scheduler_heartbeat_total")["data"]["result"]
                                if float(r["value"][1]) >= 2], 30, "the second round to be scraped")
            time.sleep(3)  # a few rule evaluations on the new data

            groups = requests.get(f"{base}/api/v1/rules", timeout=10).json()["data"]["groups"]
            expected_groups = {g["name"] for p in RULES_DIR.glob("*.yaml") for g in yaml.safe_load(p.read_text())["groups"]}
            assert {g["name"] for g in groups} == expected_groups
            # "unknown" = not evaluated yet (the recording group runs every minute); "err" = broken.
            broken = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
            assert broken == []
            evaluated = [r for g in groups for r in g["rules"] if r["health"] == "ok"]
            assert any(r["name"] == "AirflowDagFailureRateHigh" for r in evaluated)

            airflow_metrics = set(catalogue()["airflow"]["metrics"])
            failures, empty = [], []
            for path in sorted(DASHBOARDS_DIR.glob("*.json")):
                for panel_query in panel_queries(path):
                    if panel_query.ref_id == "var":
                        continue
                    expr = concrete_expr(panel_query.expr)
                    answer = query(base, expr)
                    if answer.get("status") != "success":
                        failures.append(f"{panel_query.where}: {answer.get('error')}")
                    elif metric_names(expr) and metric_names(expr) <= airflow_metrics and not answer["data"]["result"]:
                        empty.append(panel_query.where)
            assert failures == []
            assert empty == [], "Airflow panels without data although Airflow reported every metric"
