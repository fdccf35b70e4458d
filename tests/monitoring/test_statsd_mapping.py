"""Airflow -> StatsD -> statsd_exporter -> Prometheus names, end to end with the real components.

Airflow's own metrics code (its metric registry, legacy-name handling and StatsD logger, configured
through the same AIRFLOW__METRICS__* settings the cluster uses) emits every metric Airflow 3
defines, over UDP, to the pinned statsd_exporter running our mapping. The Prometheus series that
come out must be exactly the `airflow` section of the metric catalogue the dashboards and alerts
are checked against.
"""
from __future__ import annotations

import datetime
import re
import socket
import subprocess
import time
from importlib import resources

import pytest
import requests
import yaml

from monitoring_support import BASE, catalogue, tool

pytestmark = pytest.mark.slow  # imports Airflow (~15 s)

MAPPING = BASE / "statsd-exporter" / "airflow-mapping.yaml"
SAMPLE_TAGS = {"dag_id": "etl_daily", "task_id": "transform", "state": "success", "pool_name": "default_pool",
               "executor_class_name": "KubernetesExecutor"}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_samples(exposition: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for line in exposition.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
            samples.append((match.group(1), labels, float(match.group(4))))
    return samples


@pytest.fixture
def statsd_exporter(tmp_path):
    udp_port, web_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    log = (tmp_path / "statsd_exporter.log").open("w")
    process = subprocess.Popen(
        [str(tool("statsd_exporter")), f"--statsd.listen-udp=127.0.0.1:{udp_port}", "--statsd.listen-tcp=",
         f"--web.listen-address=127.0.0.1:{web_port}", f"--statsd.mapping-config={MAPPING}"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{web_port}/metrics"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(url, timeout=1).raise_for_status()
            break
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"statsd_exporter did not start: {(tmp_path / 'statsd_exporter.log').read_text()}")
            time.sleep(0.2)
    yield udp_port, url
    process.terminate()
    process.wait(timeout=10)
    log.close()


def airflow_registry() -> list[dict]:
    """Airflow's own list of every metric it emits (name, type, legacy name, name variables)."""
    template = resources.files("airflow._shared.observability.metrics") / "metrics_template.yaml"
    return yaml.safe_load(template.read_text())["metrics"]


def emit_every_airflow_metric(monkeypatch, udp_port: int) -> None:
    # The settings the cluster's airflow.env carries, pointed at the local exporter.
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(udp_port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    monkeypatch.setenv("AIRFLOW__METRICS__LEGACY_NAMES_ON", "True")
    from airflow._shared.observability.metrics import stats
    from airflow.configuration import conf
    from airflow.observability.metrics.statsd_logger import get_statsd_logger

    stats.initialize(factory=get_statsd_logger, export_legacy_names=conf.getboolean("metrics", "legacy_names_on"))
    try:
        for metric in airflow_registry():
            tags = {var: SAMPLE_TAGS.get(var, f"sample_{var}") for var in metric.get("name_variables") or []}
            # A few registry names are themselves templates ("{job_name}_start"): fill them the
            # way the emitting code does, with a concrete value.
            placeholders = re.findall(r"\{(\w+)\}", metric["name"])
            name = metric["name"].format(**{p: SAMPLE_TAGS.get(p, f"sample_{p}") for p in placeholders})
            kind = metric["type"]
            if kind == "counter":
                stats.incr(name, tags=tags)
            elif kind == "gauge":
                stats.gauge(name, 3, tags=tags)
            elif kind == "timer":
                stats.timing(name, datetime.timedelta(seconds=42), tags=tags)
    finally:
        stats.initialize(factory=lambda: stats.NoStatsLogger(), export_legacy_names=True)


def scrape_until_stable(url: str, timeout: float = 15) -> str:
    """UDP is asynchronous: scrape until two reads a moment apart agree."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        text = requests.get(url, timeout=2).text
        names = {name for name, _, _ in parse_samples(text) if name.startswith("airflow_")}
        if names and names == previous:
            return text
        previous = names
        time.sleep(0.5)
    return text


def test_airflow_metrics_arrive_exactly_as_catalogued(statsd_exporter, monkeypatch):
    udp_port, url = statsd_exporter
    emit_every_airflow_metric(monkeypatch, udp_port)
    samples = parse_samples(scrape_until_stable(url))
    exported = {name for name, _, _ in samples if name.startswith("airflow_")}
    catalogued = set(catalogue()["airflow"]["metrics"])
    assert catalogued - exported == set(), "catalogued but not produced by Airflow + the mapping"
    assert exported - catalogued == set(), "produced but missing from the catalogue"

    by_name = {}
    for name, labels, value in samples:
        by_name.setdefault(name, []).append((labels, value))
    # Timers: milliseconds on the wire, seconds in Prometheus; dag_id/state from the legacy name.
    assert ({"dag_id": "etl_daily", "state": "success"}, 42.0) in by_name["airflow_dagrun_duration_seconds_sum"]
    assert ({"dag_id": "etl_daily", "task_id": "transform", "state": "success"}, 1.0) in by_name["airflow_task_finished_total"]
    assert ({"pool": "default_pool"}, 3.0) in by_name["airflow_pool_open_slots"]


def test_unmapped_metrics_are_dropped(statsd_exporter):
    udp_port, url = statsd_exporter
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"airflow.dag_processing.last_duration.etl_daily:120|ms", ("127.0.0.1", udp_port))
        sender.sendto(b"airflow.scheduler_heartbeat:1|c", ("127.0.0.1", udp_port))
    text = scrape_until_stable(url)
    names = {name for name, _, _ in parse_samples(text)}
    assert "airflow_scheduler_heartbeat_total" in names
    assert not any("last_duration" in name for name in names)
