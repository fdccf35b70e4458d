"""prometheus-adapter: the rules config serves the network metric the spark-worker HPA reads, and
its query, rendered the way the adapter renders it, computes bytes per second per pod."""
from __future__ import annotations

import re

import yaml
from monitoring_support import BASE, known_metrics, metric_names, run_promtool

CONFIG = BASE / "prometheus-adapter" / "config.yaml"
HPA_METRIC = "network_receive_bytes_per_second"


def adapter_rules() -> list[dict]:
    return yaml.safe_load(CONFIG.read_text())["rules"]


def rendered_query(rule: dict, series: str, matchers: str, group_by: str) -> str:
    """Fill the adapter's Go-template placeholders (<<.Series>> etc.) like it does for one request."""
    values = {"Series": series, "LabelMatchers": matchers, "GroupBy": group_by}
    return re.sub(r"<<\s*\.(\w+)\s*>>", lambda m: values[m.group(1)], rule["metricsQuery"])


def test_hpa_metric_is_served():
    names = [rule["name"]["as"] for rule in adapter_rules()]
    assert HPA_METRIC in names


def test_series_queries_use_catalogued_metrics():
    known = known_metrics()
    for rule in adapter_rules():
        assert metric_names(rule["seriesQuery"]) <= known, rule["seriesQuery"]
        assert re.fullmatch(rule["name"]["matches"], metric_names(rule["seriesQuery"]).pop())


def test_every_rule_maps_namespace_and_pod():
    for rule in adapter_rules():
        overrides = rule["resources"]["overrides"]
        assert overrides["namespace"] == {"resource": "namespace"}
        assert overrides["pod"] == {"resource": "pod"}


def test_hpa_query_computes_bytes_per_second_per_pod(tmp_path):
    """promtool evaluates the rendered query on synthetic cAdvisor counters: 1 MiB/s and 3 MiB/s."""
    rule = next(r for r in adapter_rules() if r["name"]["as"] == HPA_METRIC)
    query = rendered_query(rule, "container_network_receive_bytes_total",
                           'namespace="spark",pod=~"spark-worker-a|spark-worker-b"', "pod")
    (tmp_path / "adapter.yaml").write_text(yaml.safe_dump(
        {"groups": [{"name": "adapter", "rules": [{"record": "hpa:network_receive_bytes_per_second", "expr": query}]}]}))
    (tmp_path / "adapter.test.yaml").write_text(yaml.safe_dump({
        "rule_files": ["adapter.yaml"],
        "evaluation_interval": "30s",
        "tests": [{
            "interval": "30s",
            "input_series": [
                # 30 s scrape interval: +30 MiB per sample = 1 MiB/s; +90 MiB = 3 MiB/s.
                {"series": 'container_network_receive_bytes_total{namespace="spark",pod="spark-worker-a",interface="eth0"}',
                 "values": "0+31457280x20"},
                {"series": 'container_network_receive_bytes_total{namespace="spark",pod="spark-worker-b",interface="eth0"}',
                 "values": "0+94371840x20"},
                # Another namespace's pod with the same name prefix must not count.
                {"series": 'container_network_receive_bytes_total{namespace="airflow",pod="spark-worker-a",interface="eth0"}',
                 "values": "0+999999999x20"},
            ],
            "promql_expr_test": [{
                # round(): rate() of exact integers still carries float noise in the last digit.
                "expr": "round(hpa:network_receive_bytes_per_second)",
                "eval_time": "5m",
                "exp_samples": [
                    {"labels": '{pod="spark-worker-a"}', "value": 1048576},
                    {"labels": '{pod="spark-worker-b"}', "value": 3145728},
                ],
            }],
        }],
    }))
    result = run_promtool("test", "rules", "adapter.test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
