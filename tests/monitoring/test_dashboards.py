"""Dashboards: valid Grafana JSON, every query parses with Prometheus' own parser (promtool), and
every metric a query reads is one a scrape target serves (the committed catalogue)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from monitoring_support import (
    BASE,
    DASHBOARDS_DIR,
    PanelQuery,
    known_metrics,
    metric_names,
    panel_queries,
    queries_as_rule_file,
    run_promtool,
    unknown_metrics,
)

DASHBOARDS = sorted(DASHBOARDS_DIR.glob("*.json"))


def test_there_are_dashboards_for_each_topic():
    assert {p.stem for p in DASHBOARDS} >= {"workload-resources", "airflow", "spark", "cluster-capacity"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_provisionable(path: Path):
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] == path.stem, f"{path.name}: uid must equal the file name (stable links)"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids {ids}"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "prometheus", f"{path.name}: panel {panel['title']!r} datasource"
        assert panel["targets"], f"{path.name}: panel {panel['title']!r} has no query"


def test_every_dashboard_file_is_in_the_configmap_generator():
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    generator = next(g for g in kustomization["configMapGenerator"] if g["name"] == "grafana-dashboards")
    listed = {Path(f.split("=")[-1]).name for f in generator["files"]}
    assert listed == {p.name for p in DASHBOARDS}


def test_every_panel_query_parses(tmp_path):
    queries = [q for path in DASHBOARDS for q in panel_queries(path)]
    assert len(queries) > 40
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(queries_as_rule_file(queries))
    result = run_promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_panel_uses_only_catalogued_metrics():
    known = known_metrics()
    queries = [q for path in DASHBOARDS for q in panel_queries(path)]
    assert unknown_metrics(queries, known) == []


def test_a_panel_with_an_unknown_metric_is_reported_by_name():
    bad = PanelQuery("made-up.json", "Typo", "A", 'sum(rate(container_network_recieve_bytes_total{namespace="x"}[5m]))')
    problems = unknown_metrics([bad], known_metrics())
    assert problems == ["made-up.json: panel 'Typo' query A uses unknown metric(s) container_network_recieve_bytes_total"]


def test_a_panel_with_broken_promql_fails_the_parse(tmp_path):
    bad = PanelQuery("made-up.json", "Broken", "A", "sum(rate(container_cpu_usage_seconds_total[5m])")
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(queries_as_rule_file([bad]))
    result = run_promtool("check", "rules", str(rule_file))
    assert result.returncode != 0
    assert "dashboard_query:0" in result.stdout + result.stderr or "unclosed" in result.stdout + result.stderr


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (namespace) (rate(container_cpu_usage_seconds_total{namespace=~"$namespace"}[5m]))',
     {"container_cpu_usage_seconds_total"}),
    ('histogram_quantile(0.95, sum by (dag_id, le) (rate(airflow_dagrun_duration_seconds_bucket{state="success"}[6h])))',
     {"airflow_dagrun_duration_seconds_bucket"}),
    ("a_total / on (pod) group_left (label_x) max by (pod, label_x) (kube_pod_labels) and b offset 5m",
     {"a_total", "kube_pod_labels", "b"}),
    ('count(up == 0) or vector(0)', {"up"}),
    ('{__name__="node_cpu_seconds_total", mode="idle"}', {"node_cpu_seconds_total"}),
    ('namespace_pod:container_cpu_usage_seconds:rate5m{pod=~"by|on"}', {"namespace_pod:container_cpu_usage_seconds:rate5m"}),
])
def test_metric_name_extraction(expr, names):
    assert metric_names(expr) == names
