"""The network-metric HPA component, applied to the real spark-standalone app: the spark-worker
HPA keeps its CPU/memory metrics and gains the metric prometheus-adapter serves."""
from __future__ import annotations

import shutil

import yaml

from monitoring_support import BASE, MONITORING, ROOT
from tools.gate.render import render

COMPONENT = MONITORING / "components" / "spark-worker-network-hpa"


def test_component_adds_the_adapter_metric_beside_cpu_and_memory(tmp_path):
    # kustomize only takes relative paths: build from a copy of apps/ beside a throw-away overlay.
    shutil.copytree(ROOT / "apps", tmp_path / "apps", ignore=shutil.ignore_patterns("*.json"))
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["../apps/spark-standalone/overlays/prod"],
        "components": [f"../apps/monitoring/components/{COMPONENT.name}"],
    }))
    hpa = next(o for o in render(overlay) if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == "spark-worker")
    metrics = hpa["spec"]["metrics"]
    assert {m["resource"]["name"] for m in metrics if m["type"] == "Resource"} == {"cpu", "memory"}
    pods = [m["pods"] for m in metrics if m["type"] == "Pods"]
    served = {r["name"]["as"] for r in yaml.safe_load((BASE / "prometheus-adapter" / "config.yaml").read_text())["rules"]}
    assert [p["metric"]["name"] for p in pods] == ["network_receive_bytes_per_second"]
    assert pods[0]["metric"]["name"] in served
    assert pods[0]["target"] == {"type": "AverageValue", "averageValue": "40Mi"}
