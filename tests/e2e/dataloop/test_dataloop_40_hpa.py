"""The API server's HPA under real load: idle at one replica, a bounded load (a few threads calling
the REST API through the Service) takes the CPU the metrics API reports above the target and the HPA
adds a replica; once the load stops, it removes it again, not before the scale-down stabilization
window (60 s in `local`, 300 s in dev and prod). The timeline (replicas, the HPA's desired count,
its current metric) is taken from the API server every few seconds and kept in
.run/bench/hpa-timeline.json, drawn as .run/bench/hpa-timeline.png (tests/e2e/dataloop/hpa.py)."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.e2e.dataloop.conftest import wait_for
from tests.e2e.dataloop.hpa import HpaSampler

pytestmark = pytest.mark.e2e

NAMESPACE, NAME = "airflow", "airflow-api-server"
THREADS = 4  # the load's bound: this many clients, one request at a time each


def load(url: str, token: str, stop: threading.Event, counts: list[int]) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    while not stop.is_set():
        try:
            session.get(url, timeout=30)
            counts[0] += 1
        except requests.RequestException:
            time.sleep(0.5)


def test_the_api_servers_hpa_scales_up_under_load_and_down_after_the_window(platform, airflow):
    sampler = HpaSampler(platform, NAMESPACE, NAME)
    try:
        wait_for(lambda: sampler.last().get("replicas") == 1 and sampler.last().get("desired") == 1,
                 f"{NAME} idle at one replica", 420, 5)
        start = sampler.mark("load starts")
        stop, counts = threading.Event(), [0]
        url = f"{airflow.base_url}/api/v2/dags?limit=100"
        workers = [threading.Thread(target=load, args=(url, airflow.token(), stop, counts), daemon=True)
                   for _ in range(THREADS)]
        for worker in workers:
            worker.start()
        try:
            wait_for(lambda: (sampler.last().get("ready") or 0) >= 2, f"{NAME} scaled to two ready replicas", 300, 5)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=40)
        stopped = sampler.mark(f"load stops ({counts[0]} requests)")
        wait_for(lambda: sampler.last().get("replicas") == 1, f"{NAME} back to one replica", sampler.window + 300, 5)
        down = sampler.mark("scaled down")
    finally:
        record = sampler.keep("hpa-timeline")
    # The replica came while the load ran, above the target; it went only after the window.
    samples = record["samples"]
    up = next(s for s in samples if (s["replicas"] or 0) >= 2 and s["t"] >= start)
    assert any((s["cpu_millicores"] or 0) > sampler.target("cpu") for s in samples if start <= s["t"] <= up["t"]), \
        "the HPA added a replica without the metric going above its target"
    assert down - stopped >= sampler.window, \
        f"scaled down {down - stopped:.0f}s after the load stopped, inside the {sampler.window}s window"
