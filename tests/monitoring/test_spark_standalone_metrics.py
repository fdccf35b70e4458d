"""The Spark standalone master and worker, started for real (the Spark distribution inside the
locked pyspark package) with the SPARK_MASTER_OPTS / SPARK_WORKER_OPTS of the rendered
spark-standalone overlay, serve Prometheus text at the paths PodMonitor monitoring/spark-standalone
scrapes on their UI ports."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import requests
from live_support import free_port, parse_samples, running
from monitoring_support import ROOT

from tools.gate.render import render

pytestmark = pytest.mark.slow
OVERLAY = ROOT / "apps" / "spark-standalone" / "overlays" / "prod"


def spark_home() -> Path:
    import pyspark

    home = Path(pyspark.__file__).parent
    if not (home / "bin" / "spark-class").is_file() or not (home / "jars").is_dir():
        raise RuntimeError(f"{home}: pyspark has no bundled Spark distribution (bin/spark-class, jars/)")
    return home


def java_home() -> str:
    home = os.environ.get("JAVA_HOME") or str(Path(shutil.which("java") or "/usr/bin/java").resolve().parents[1])
    return home


def rendered_container(name: str, container: str) -> dict:
    deployment = next(o for o in render(OVERLAY) if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container)


def rendered_env(container: dict, variable: str) -> str:
    values = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert values.get(variable), f"{OVERLAY}: container {container['name']} has no {variable}"
    return values[variable]


def pod_monitor_paths() -> dict[int, str]:
    monitor = next(o for o in render(ROOT / "apps" / "monitoring" / "overlays" / "prod")
                   if o["kind"] == "PodMonitor" and o["metadata"]["name"] == "spark-standalone")
    return {e["portNumber"]: e["path"] for e in monitor["spec"]["podMetricsEndpoints"]}


def scrape(url: str) -> dict[str, float]:
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return {name: value for name, _, value in parse_samples(response.text)}


def wait_for(fetch, done, timeout: float = 60):
    """Poll `fetch()` until `done(result)`; the worker registers with the master asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_master_and_worker_serve_prometheus_where_the_pod_monitor_scrapes(tmp_path):
    home = spark_home()
    master, worker = rendered_container("spark-master", "master"), rendered_container("spark-worker", "worker")
    ui_port = {c["name"]: next(p["containerPort"] for p in c["ports"] if p["name"] == "ui") for c in (master, worker)}
    paths = pod_monitor_paths()
    base_env = {**os.environ, "SPARK_HOME": str(home), "JAVA_HOME": java_home(), "SPARK_LOCAL_IP": "127.0.0.1"}
    rpc, master_ui, worker_ui = free_port(), free_port(), free_port()
    spark_class = str(home / "bin" / "spark-class")

    master_cmd = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                  "--port", str(rpc), "--webui-port", str(master_ui)]
    worker_cmd = [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                  "--webui-port", str(worker_ui), "--cores", "1", "--memory", "512m",
                  "--work-dir", str(tmp_path / "work"), f"spark://127.0.0.1:{rpc}"]
    master_path, worker_path = paths[ui_port["master"]], paths[ui_port["worker"]]
    with running(master_cmd, f"http://127.0.0.1:{master_ui}{master_path}", tmp_path / "master.log",
                 env={**base_env, "SPARK_MASTER_OPTS": rendered_env(master, "SPARK_MASTER_OPTS")}):
        with running(worker_cmd, f"http://127.0.0.1:{worker_ui}{worker_path}", tmp_path / "worker.log",
                     env={**base_env, "SPARK_WORKER_OPTS": rendered_env(worker, "SPARK_WORKER_OPTS")}):
            worker_metrics = scrape(f"http://127.0.0.1:{worker_ui}{worker_path}")
            assert worker_metrics.get("metrics_worker_coresFree_Value") == 1, sorted(worker_metrics)[:20]
            master_metrics = wait_for(lambda: scrape(f"http://127.0.0.1:{master_ui}{master_path}"),
                                      lambda m: m.get("metrics_master_aliveWorkers_Value") == 1)
            assert master_metrics.get("metrics_master_aliveWorkers_Value") == 1, sorted(master_metrics)[:20]
