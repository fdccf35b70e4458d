"""Local processes for the live monitoring tests: statsd_exporter and Prometheus, on free ports."""
from __future__ import annotations

import contextlib
import datetime
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import requests
import yaml
from monitoring_support import BASE, ROOT, tool

MAPPING = BASE / "statsd-exporter" / "airflow-mapping.yaml"
SAMPLE_TAGS = {"dag_id": "etl_daily", "task_id": "transform", "state": "success", "pool_name": "default_pool",
               "executor_class_name": "KubernetesExecutor"}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
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


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=1).raise_for_status()
            return
        except requests.RequestException as err:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{process.args[0]} did not come up at {url}:\n{log.read_text()[-3000:]}") from err
            time.sleep(0.3)


@contextlib.contextmanager
def running(command: list[str], ready_url: str, log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_http(ready_url, process, log)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def deployment_args(manifest: str, name: str) -> list[str]:
    """Arguments of the first container of workload `name` in apps/monitoring/base/<manifest>."""
    for document in yaml.safe_load_all((BASE / manifest).read_text()):
        if document and document["kind"] in {"Deployment", "DaemonSet"} and document["metadata"]["name"] == name:
            return list(document["spec"]["template"]["spec"]["containers"][0]["args"])
    raise LookupError(f"{manifest}: no Deployment/DaemonSet {name}")


@contextlib.contextmanager
def statsd_exporter(workdir: Path) -> Iterator[tuple[int, int]]:
    """(udp_port, web_port) of a statsd_exporter running our Airflow mapping."""
    udp_port, web_port = free_port(socket.SOCK_DGRAM), free_port()
    local = {"--statsd.listen-udp": f"127.0.0.1:{udp_port}", "--web.listen-address": f"127.0.0.1:{web_port}",
             "--statsd.mapping-config": str(MAPPING)}
    # The Deployment's own arguments, with addresses and the mounted mapping path made local.
    args = [f"{flag}={local[flag]}" if flag in local else arg
            for arg in deployment_args("statsd-exporter/statsd-exporter.yaml", "airflow-statsd-exporter")
            for flag in [arg.split("=", 1)[0]]]
    command = [str(tool("statsd_exporter")), *args]
    with running(command, f"http://127.0.0.1:{web_port}/metrics", workdir / "statsd_exporter.log"):
        yield udp_port, web_port


def airflow_registry() -> list[dict]:
    """Airflow's own list of every metric it emits (name, type, legacy name, name variables)."""
    template = resources.files("airflow._shared.observability.metrics") / "metrics_template.yaml"
    return yaml.safe_load(template.read_text())["metrics"]


def cluster_metrics_settings(overlay: Path = ROOT / "apps" / "airflow" / "overlays" / "dev") -> dict[str, str]:
    """The [metrics] lines of the rendered airflow-config ConfigMap (what the cluster's pods get)."""
    from tools.gate.render import render

    config = next((o for o in render(overlay) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "airflow-config"), None)
    if config is None:
        raise LookupError(f"{overlay}: no ConfigMap airflow-config rendered")
    return {k: str(v) for k, v in config.get("data", {}).items() if k.startswith("AIRFLOW__METRICS__")}


def configure_airflow_statsd(monkeypatch, udp_port: int) -> None:
    """The cluster's [metrics] settings verbatim, except where the exporter listens (loopback here)."""
    settings = cluster_metrics_settings()
    if settings.get("AIRFLOW__METRICS__STATSD_ON") != "True":
        raise AssertionError("apps/airflow airflow.env: AIRFLOW__METRICS__STATSD_ON is "
                             f"{settings.get('AIRFLOW__METRICS__STATSD_ON')!r}, "
                             "so the cluster sends no metrics to the exporter")
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(udp_port))


@contextlib.contextmanager
def airflow_stats(monkeypatch, udp_port: int):
    """Airflow's real stats module, sending through its StatsD logger (statsd.StatsClient)."""
    try:
        import statsd  # noqa: F401  (Airflow would silently fall back to a no-op logger)
    except ImportError as error:
        raise RuntimeError("the `statsd` package (Airflow's StatsD client, apache-airflow[statsd]) is not "
                           "installed: it must be in requirements.lock (statsd==4.0.1)") from error
    configure_airflow_statsd(monkeypatch, udp_port)
    from airflow._shared.observability.metrics import stats
    from airflow.configuration import conf
    from airflow.observability.metrics.statsd_logger import get_statsd_logger

    stats.initialize(factory=get_statsd_logger, export_legacy_names=conf.getboolean("metrics", "legacy_names_on"))
    try:
        yield stats
    finally:
        stats.initialize(factory=lambda: stats.NoStatsLogger(), export_legacy_names=True)


def emit_registry(stats, overrides: dict[str, str] | None = None, seconds: float = 42, value: float = 3) -> None:
    """Emit every metric of Airflow's registry once, with sample tags (overrides win)."""
    sample = {**SAMPLE_TAGS, **(overrides or {})}
    for metric in airflow_registry():
        tags = {var: sample.get(var, f"sample_{var}") for var in metric.get("name_variables") or []}
        # A few registry names are templates themselves ("{job_name}_start"): fill them like the
        # emitting code does.
        placeholders = re.findall(r"\{(\w+)\}", metric["name"])
        name = metric["name"].format(**{p: sample.get(p, f"sample_{p}") for p in placeholders})
        if metric["type"] == "counter":
            stats.incr(name, tags=tags)
        elif metric["type"] == "gauge":
            stats.gauge(name, value, tags=tags)
        elif metric["type"] == "timer":
            stats.timing(name, datetime.timedelta(seconds=seconds), tags=tags)


def scrape_until_stable(url: str, prefix: str = "airflow_", timeout: float = 15) -> str:
    """UDP is asynchronous: scrape until two reads a moment apart agree."""
    deadline = time.monotonic() + timeout
    previous, text = None, ""
    while time.monotonic() < deadline:
        text = requests.get(url, timeout=2).text
        snapshot = sorted((n, sorted(labels.items()), v) for n, labels, v in parse_samples(text) if n.startswith(prefix))
        if snapshot and snapshot == previous:
            return text
        previous = snapshot
        time.sleep(0.5)
    return text
