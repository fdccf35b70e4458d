"""The API server's HPA under real load: idle at one replica, a bounded load (a few threads calling
the REST API through the Service) takes the CPU the metrics API reports above the target and the HPA
adds a replica; once the load stops, it removes it again, not before the scale-down stabilization
window (60 s in `local`, 300 s in dev and prod). The timeline (replicas, the HPA's desired count,
its current metric) is taken from the API server every few seconds and kept in
.run/bench/hpa-timeline.json, drawn as .run/bench/hpa-timeline.png (tools/platform/timeline.py)."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.dataloop.conftest import wait_for
from tools.platform import timeline

pytestmark = pytest.mark.e2e

NAMESPACE, NAME = "airflow", "airflow-api-server"
THREADS = 4  # the load's bound: this many clients, one request at a time each
BENCH = Path(__file__).resolve().parents[3] / ".run" / "bench"


class Sampler:
    INTERVAL = 5.0

    def __init__(self, platform):
        self.platform = platform
        self.samples: list[dict] = []
        self.marks: list[dict] = []
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> dict:
        hpa = json.loads(self.platform.kubectl("-n", NAMESPACE, "get", "hpa", NAME, "-o", "json").stdout)
        deployment = json.loads(self.platform.kubectl("-n", NAMESPACE, "get", "deployment", NAME, "-o", "json").stdout)
        metric = next((m["resource"]["current"].get("averageValue") for m in hpa["status"].get("currentMetrics") or []
                       if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"), None)
        return {"t": round(time.time() - self.started, 1), "replicas": deployment["spec"].get("replicas"),
                "ready": deployment["status"].get("readyReplicas", 0), "desired": hpa["status"].get("desiredReplicas"),
                "cpu_millicores": timeline.millicores(metric) if metric else None}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample())
            except Exception as exc:  # a slow answer leaves a gap, not a dead sampler
                self.samples.append({"t": round(time.time() - self.started, 1), "error": str(exc)})
            self._stop.wait(self.INTERVAL)

    def mark(self, what: str) -> float:
        t = round(time.time() - self.started, 1)
        self.marks.append({"t": t, "what": what})
        return t

    def last(self) -> dict:
        return next((s for s in reversed(self.samples) if "error" not in s), {})

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


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
    hpa = json.loads(platform.kubectl("-n", NAMESPACE, "get", "hpa", NAME, "-o", "json").stdout)
    window = hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    sampler = Sampler(platform)
    try:
        wait_for(lambda: sampler.last().get("replicas") == 1 and sampler.last().get("desired") == 1,
                 f"{NAME} idle at one replica", 420, 5)
        sampler.mark("load starts")
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
        wait_for(lambda: sampler.last().get("replicas") == 1, f"{NAME} back to one replica", window + 300, 5)
        down = sampler.mark("scaled down")
    finally:
        sampler.stop()
    samples = [s for s in sampler.samples if "error" not in s]
    BENCH.mkdir(parents=True, exist_ok=True)
    record = {"hpa": f"{NAMESPACE}/{NAME}", "target": hpa["spec"]["metrics"], "window_s": window,
              "interval_s": Sampler.INTERVAL, "marks": sampler.marks, "samples": samples}
    (BENCH / "hpa-timeline.json").write_text(json.dumps(record, indent=2))
    timeline.png(record, BENCH / "hpa-timeline.png")
    print("\n" + "\n".join(f"  {s['t']:6.1f}s replicas={s['replicas']} ready={s['ready']} desired={s['desired']} "
                           f"cpu={s['cpu_millicores']}m" for s in samples))
    print(f"marks: {sampler.marks}")
    # The replica came while the load ran, above the target; it went only after the window.
    start = next(m["t"] for m in sampler.marks if m["what"] == "load starts")
    up = next(s for s in samples if (s["replicas"] or 0) >= 2 and s["t"] >= start)
    target = timeline.millicores(hpa["spec"]["metrics"][0]["resource"]["target"]["averageValue"])
    assert any((s["cpu_millicores"] or 0) > target for s in samples if start <= s["t"] <= up["t"]), \
        "the HPA added a replica without the metric going above its target"
    assert down - stopped >= window, f"scaled down {down - stopped:.0f}s after the load stopped, inside the {window}s window"
