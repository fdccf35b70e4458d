"""`make bench-k8s`: how long the real one-node cluster takes, measured on the paths users run.

- `k8s-up` from nothing (right after `k8s-down`: fresh containerd state, node images pulled from
  the local registry, add-ons rolled out) and `k8s-up` when the cluster already runs (a no-op);
- `make images`: every job image when nothing changed (the cache-hit path) and the last full
  build of each image (from its build record, with the time it was taken);
- pod start latency, create -> Running, p50/p95 over 20 pods created one after another.

Results are printed and written to the --out JSON file (kept under .run/bench/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tools.images.build import RECORDS_CACHE
from tools.k8s import layout as L
from tools.k8s.cluster import LocalKubernetes


def _timed(argv: list[str]) -> float:
    started = time.monotonic()
    result = subprocess.run(argv, cwd=L.ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return round(time.monotonic() - started, 2)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 3)


def pod_start_latency(cluster: LocalKubernetes, image: str, count: int = 20) -> list[float]:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    latencies = []
    try:
        for index in range(count):
            pod = {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{index}", "namespace": namespace},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "main", "image": image,
                        "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}, "limits": {"memory": "16Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    }],
                },
            }
            started = time.monotonic()
            cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
            while True:
                phase = cluster.kubectl("-n", namespace, "get", "pod", f"p{index}", "-o",
                                        "jsonpath={.status.phase}").stdout
                if phase == "Running":
                    latencies.append(round(time.monotonic() - started, 3))
                    break
                if time.monotonic() - started > 120:
                    raise SystemExit(f"bench: pod p{index} not Running after 120 s")
                time.sleep(0.05)
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.k8s.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pods", type=int, default=20)
    args = parser.parse_args(argv)
    py = [sys.executable, "-m"]
    state = ["--state-dir", str(L.RUN_DIR / "k8s")]
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=L.ROOT, capture_output=True, text=True).stdout.strip()

    results: dict = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    _timed([*py, "tools.k8s", "down", *state])
    results["k8s_up_from_nothing_s"] = _timed([*py, "tools.k8s", "up", *state])
    results["k8s_up_when_running_s"] = _timed([*py, "tools.k8s", "up", *state])
    results["images_cache_hit_s"] = _timed([*py, "tools.images", "--tag", sha or "bench", "--group", "jobs"])
    results["last_full_builds"] = {
        p.stem: json.loads(p.read_text()) for p in sorted(RECORDS_CACHE.glob("*.json"))
    }
    cluster = LocalKubernetes()
    pause = json.loads((L.RUN_DIR / "images" / "local" / "pause.json").read_text())
    latencies = pod_start_latency(cluster, f"{pause['image']}@{pause['digest']}", args.pods)
    results["pod_start_s"] = {"count": len(latencies), "p50": _percentile(latencies, 0.5),
                              "p95": _percentile(latencies, 0.95), "max": max(latencies),
                              "mean": round(statistics.mean(latencies), 3)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "last_full_builds"}, indent=2))
    print(f"bench-k8s: results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
