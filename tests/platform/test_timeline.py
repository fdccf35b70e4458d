"""The HPA timeline picture (tools/platform/timeline.py): quantities parsed as Kubernetes writes them,
and the drawing carries each series where its samples put it."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tools.platform import timeline


@pytest.mark.parametrize(("quantity", "millicores"), [("250m", 250), ("1", 1000), ("1500u", 1.5), ("2000000n", 2)])
def test_cpu_quantities(quantity, millicores):
    assert timeline.millicores(quantity) == pytest.approx(millicores)


def test_the_svg_draws_replicas_as_steps_and_the_target_line():
    record = {"hpa": "airflow/airflow-api-server", "window_s": 60,
              "target": [{"type": "Resource",
                          "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "100m"}}}],
              "marks": [{"t": 10, "what": "load starts"}],
              "samples": [{"t": 0, "replicas": 1, "ready": 1, "desired": 1, "cpu_millicores": 5},
                          {"t": 50, "replicas": 2, "ready": 1, "desired": 2, "cpu_millicores": 300},
                          {"t": 100, "replicas": 1, "ready": 1, "desired": 1, "cpu_millicores": 4},
                          {"t": 101, "error": "timeout"}]}
    root = ET.fromstring(timeline.svg(record))
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    replicas = [tuple(map(float, p.split(","))) for p in lines[-1].get("points").split()]
    # Steps: a horizontal segment at the old value before each change, so 3 samples give 5 points.
    assert len(replicas) == 5 and replicas[1][1] == replicas[0][1] and replicas[2][1] < replicas[1][1]
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "target 100m" in texts and "load starts" in texts
