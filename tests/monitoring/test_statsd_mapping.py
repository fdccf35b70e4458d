"""Airflow -> StatsD -> statsd_exporter -> Prometheus names, end to end with the real components.

Airflow's own metrics code (its metric registry, legacy-name handling and StatsD logger, configured
through the same AIRFLOW__METRICS__* settings the cluster uses) emits every metric Airflow 3
defines, over UDP, to the pinned statsd_exporter running our mapping. The Prometheus series that
come out must be exactly the `airflow` section of the metric catalogue the dashboards and alerts
are checked against.
"""
from __future__ import annotations

import socket

import pytest
from live_support import airflow_stats, emit_registry, parse_samples, scrape_until_stable, statsd_exporter
from monitoring_support import catalogue

pytestmark = pytest.mark.slow  # imports Airflow (~15 s)


def test_airflow_metrics_arrive_exactly_as_catalogued(tmp_path, monkeypatch):
    with statsd_exporter(tmp_path) as (udp_port, web_port):
        with airflow_stats(monkeypatch, udp_port) as stats:
            emit_registry(stats)
        samples = parse_samples(scrape_until_stable(f"http://127.0.0.1:{web_port}/metrics"))
    exported = {name for name, _, _ in samples if name.startswith("airflow_")}
    catalogued = set(catalogue()["airflow"]["metrics"])
    assert catalogued - exported == set(), "catalogued but not produced by Airflow + the mapping"
    assert exported - catalogued == set(), "produced but missing from the catalogue"

    by_name: dict[str, list] = {}
    for name, labels, value in samples:
        by_name.setdefault(name, []).append((labels, value))
    # Timers: milliseconds on the wire, seconds in Prometheus; dag_id/state from the legacy name.
    assert ({"dag_id": "etl_daily", "state": "success"}, 42.0) in by_name["airflow_dagrun_duration_seconds_sum"]
    assert ({"dag_id": "etl_daily", "task_id": "transform", "state": "success"}, 1.0) in by_name["airflow_task_finished_total"]
    assert ({"pool": "default_pool"}, 3.0) in by_name["airflow_pool_open_slots"]


def test_unmapped_metrics_are_dropped(tmp_path):
    with statsd_exporter(tmp_path) as (udp_port, web_port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"airflow.dag_processing.last_duration.etl_daily:120|ms", ("127.0.0.1", udp_port))
            sender.sendto(b"airflow.scheduler_heartbeat:1|c", ("127.0.0.1", udp_port))
        names = {name for name, _, _ in parse_samples(scrape_until_stable(f"http://127.0.0.1:{web_port}/metrics"))}
    assert "airflow_scheduler_heartbeat_total" in names
    assert not any("last_duration" in name for name in names)
