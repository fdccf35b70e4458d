"""An HPA's timeline as the API server reports it: every few seconds the target's replicas (spec
and ready), the HPA's desired count and the current value of each of its Resource metrics (what
metrics-server gave it), plus marks for what the test did. Kept as JSON and drawn as a PNG under
.run/bench/ (tools/platform/timeline.py); test_dataloop_40_hpa.py and _50_worker_hpa.py share it."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tools.platform import timeline

BENCH = Path(__file__).resolve().parents[3] / ".run" / "bench"
# HPA status metric name -> the timeline's sample key and the quantity parser for it.
_CURRENT = {"cpu": ("cpu_millicores", timeline.millicores), "memory": ("memory_bytes", timeline.memory_bytes)}


class HpaSampler:
    INTERVAL = 5.0

    def __init__(self, platform, namespace: str, name: str):
        self.platform, self.namespace, self.name = platform, namespace, name
        self.hpa = self._get("hpa")
        self.samples: list[dict] = []
        self.marks: list[dict] = []
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hpa-{name}", daemon=True)
        self._thread.start()

    @property
    def window(self) -> int:
        return self.hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]

    def target(self, resource: str) -> float:
        """The HPA's AverageValue target of `resource` in the sample's units."""
        metric = next(m for m in self.hpa["spec"]["metrics"] if m.get("resource", {}).get("name") == resource)
        return _CURRENT[resource][1](metric["resource"]["target"]["averageValue"])

    def _get(self, kind: str) -> dict:
        return json.loads(self.platform.kubectl("-n", self.namespace, "get", kind, self.name, "-o", "json").stdout)

    def _sample(self) -> dict:
        hpa, deployment = self._get("hpa"), self._get("deployment")
        sample = {"t": round(time.time() - self.started, 1), "replicas": deployment["spec"].get("replicas"),
                  "ready": deployment["status"].get("readyReplicas", 0), "desired": hpa["status"].get("desiredReplicas")}
        for key, _ in _CURRENT.values():
            sample[key] = None
        for metric in hpa["status"].get("currentMetrics") or []:
            if metric.get("type") == "Resource" and metric["resource"]["name"] in _CURRENT:
                key, parse = _CURRENT[metric["resource"]["name"]]
                value = metric["resource"]["current"].get("averageValue")
                sample[key] = parse(value) if value else None
        return sample

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

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=30)
        return [s for s in self.samples if "error" not in s]

    def keep(self, stem: str) -> dict:
        """Write .run/bench/<stem>.json and .png; print the samples; return the record."""
        samples = self.stop()
        record = {"hpa": f"{self.namespace}/{self.name}", "target": self.hpa["spec"]["metrics"],
                  "window_s": self.window, "interval_s": self.INTERVAL, "marks": self.marks, "samples": samples}
        BENCH.mkdir(parents=True, exist_ok=True)
        (BENCH / f"{stem}.json").write_text(json.dumps(record, indent=2))
        timeline.png(record, BENCH / f"{stem}.png")
        print("\n" + "\n".join(
            f"  {s['t']:6.1f}s replicas={s['replicas']} ready={s['ready']} desired={s['desired']} "
            f"cpu={s['cpu_millicores']}m memory={round(s['memory_bytes'] / 2**20) if s['memory_bytes'] else None}Mi"
            for s in samples))
        print(f"marks: {self.marks}")
        return record
