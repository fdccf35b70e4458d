"""The network-metric HPA component as the clusters run it: both spark-standalone overlays include
it, so the spark-worker HPA keeps its CPU/memory metrics and gains, once, the metric
prometheus-adapter serves."""
from __future__ import annotations

import pytest
import yaml
from monitoring_support import BASE, ROOT

from tools.gate.render import render

COMPONENT = "../../../monitoring/components/spark-worker-network-hpa"


@pytest.mark.parametrize("env", sorted(p.name for p in (ROOT / "apps" / "spark-standalone" / "overlays").iterdir()))
def test_overlay_adds_the_adapter_metric_beside_cpu_and_memory(env):
    overlay = ROOT / "apps" / "spark-standalone" / "overlays" / env
    assert COMPONENT in yaml.safe_load((overlay / "kustomization.yaml").read_text()).get("components", []), \
        f"{overlay}/kustomization.yaml: components must include {COMPONENT}"
    hpa = next(o for o in render(overlay) if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == "spark-worker")
    metrics = hpa["spec"]["metrics"]
    assert {m["resource"]["name"] for m in metrics if m["type"] == "Resource"} == {"cpu", "memory"}
    pods = [m["pods"] for m in metrics if m["type"] == "Pods"]
    served = {r["name"]["as"] for r in yaml.safe_load((BASE / "prometheus-adapter" / "config.yaml").read_text())["rules"]}
    assert [p["metric"]["name"] for p in pods] == ["network_receive_bytes_per_second"]
    assert pods[0]["metric"]["name"] in served
    assert pods[0]["target"] == {"type": "AverageValue", "averageValue": "40Mi"}
