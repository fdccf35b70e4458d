"""Time kubeconform on ~300 objects with our schema layout, against the shared-definitions layout.

Why the K8s schemas are written self-contained: with refs into one shared ``_definitions.json``
kubeconform parses and resolves that 1.5 MB file again for every kind it compiles. This bench
builds that alternative in a temp dir and times both on the same objects, so the choice can be
re-checked when kubeconform or the schemas change.

    python -m tools.schemas.bench --objects 300 --runs 3 --out .run/bench/kubeconform.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from . import kubernetes
from .__main__ import CRD_TEMPLATE, KUBERNETES_TEMPLATE
from .refs import map_refs

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/spark-etl:1.0.0"


def _labels(name: str) -> dict:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "mlops-platform", "owner": "data-platform"}


def _meta(name: str) -> dict:
    return {"name": name, "labels": _labels(name)}


def _pod_spec(name: str) -> dict:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": name, "image": IMAGE, "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": "MODE", "value": "kubernetes"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
        }],
    }


def _objects(count: int) -> list[dict]:
    """A mix of the kinds the platform renders most, cycling until ``count`` objects."""
    makers = [
        lambda n: {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(n),
                   "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": n}},
                            "template": {"metadata": {"labels": _labels(n)}, "spec": _pod_spec(n)}}},
        lambda n: {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(n),
                   "spec": {"serviceName": n, "selector": {"matchLabels": {"app.kubernetes.io/name": n}},
                            "template": {"metadata": {"labels": _labels(n)}, "spec": _pod_spec(n)}}},
        lambda n: {"apiVersion": "v1", "kind": "Service", "metadata": _meta(n),
                   "spec": {"selector": {"app.kubernetes.io/name": n}, "ports": [{"port": 80, "targetPort": "http"}]}},
        lambda n: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(n),
                   "data": {"AIRFLOW__CORE__PARALLELISM": "32"}},
        lambda n: {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(n),
                   "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        lambda n: {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(n),
                   "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": n},
                            "minReplicas": 1, "maxReplicas": 4,
                            "metrics": [{"type": "Resource", "resource": {
                                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
        lambda n: {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication", "metadata": _meta(n),
                   "spec": {"type": "Python", "mode": "cluster", "sparkVersion": "4.2.0", "image": IMAGE,
                            "mainApplicationFile": "local:///opt/app/job.py",
                            "driver": {"cores": 1, "memory": "1g"}, "executor": {"cores": 1, "instances": 2, "memory": "1g"}}},
        lambda n: {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": _meta(n),
                   "spec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "skm"}, "target": {"name": n},
                            "data": [{"secretKey": "k", "remoteRef": {"key": n}}]}},
        lambda n: {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": _meta(n),
                   "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": n}}, "endpoints": [{"port": "http"}]}},
    ]
    return [makers[i % len(makers)](f"obj-{i:04d}") for i in range(count)]


def _shared_definitions_layout(version: str, target: Path) -> None:
    """The alternative: kind files keep refs into one _definitions.json beside them."""
    src = kubernetes.source_dir(version)
    out = kubernetes.output_dir(target, version)
    out.mkdir(parents=True)

    def relative(ref: str) -> str:
        return kubernetes.DEFINITIONS_FILE + ref[ref.index("#"):] if ref.startswith(kubernetes.REF_PREFIX) else ref

    for path in src.glob("*.json"):
        schema = json.loads(path.read_text())
        schema.pop("$id", None)
        (out / path.name).write_text(json.dumps(map_refs(schema, relative)))


def _time_kubeconform(kubeconform: Path, manifest: Path, k8s_root: Path, crd_root: Path, runs: int) -> list[float]:
    cmd = [str(kubeconform), "-strict", "-summary", "-output", "json", "-kubernetes-version", "1.34.0",
           "-schema-location", f"{k8s_root}/{KUBERNETES_TEMPLATE}", "-schema-location", f"{crd_root}/{CRD_TEMPLATE}",
           str(manifest)]
    seconds = []
    for _ in range(runs):
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds.append(time.monotonic() - started)
        summary = json.loads(proc.stdout)["summary"]
        if proc.returncode != 0 or summary["invalid"] or summary["errors"]:
            raise SystemExit(f"bench objects did not validate with {k8s_root}: {summary} {proc.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / ".run" / "bench" / "kubeconform.json")
    args = parser.parse_args()
    schemas = ROOT / ".tools" / "schemas"
    kubeconform = ROOT / ".tools" / "bin" / "kubeconform"
    work = Path(tempfile.mkdtemp(prefix="bench-kubeconform-"))
    try:
        manifest = work / "objects.yaml"
        manifest.write_text(yaml.safe_dump_all(_objects(args.objects), sort_keys=False))
        shared = work / "shared"
        _shared_definitions_layout("1.34.0", shared)
        layouts = {"self-contained (ours)": schemas, "shared _definitions.json": shared}
        results = {}
        for label, k8s_root in layouts.items():
            seconds = _time_kubeconform(kubeconform, manifest, k8s_root, schemas, args.runs)
            results[label] = {"median_s": round(statistics.median(seconds), 2), "min_s": round(min(seconds), 2)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"objects": args.objects, "runs": args.runs, "kubernetes_version": "1.34.0", "layouts": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for label, result in results.items():
        print(f"bench-kubeconform: {args.objects} objects, {label}: median {result['median_s']}s, "
              f"min {result['min_s']}s over {args.runs} runs")
    print(f"bench-kubeconform: written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
