"""The HPA timeline picture (tools/platform/timeline.py): quantities parsed as Kubernetes writes them,
the plotted series computed in display units (asserted as numbers, not pixels), and a real PNG written."""
from __future__ import annotations

import json

import pytest

from tools.platform import timeline


def cpu(target: dict) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


def memory(target: dict) -> dict:
    return {"type": "Resource", "resource": {"name": "memory", "target": target}}


API_SERVER = {"hpa": "airflow/airflow-api-server", "window_s": 60,
              "target": [cpu({"type": "AverageValue", "averageValue": "100m"})],
              "marks": [{"t": 10, "what": "load starts"}],
              "samples": [{"t": 0, "replicas": 1, "ready": 1, "desired": 1, "cpu_millicores": 5},
                          {"t": 50, "replicas": 2, "ready": 1, "desired": 2, "cpu_millicores": 300},
                          {"t": 60, "error": "timeout"},
                          {"t": 100, "replicas": 1, "ready": 1, "desired": 1, "cpu_millicores": 4}]}

SPARK_WORKERS = {"hpa": "spark/spark-worker", "window_s": 300,
                 "target": [cpu({"type": "AverageValue", "averageValue": "500m"}),
                            memory({"type": "AverageValue", "averageValue": "1Gi"})],
                 "marks": [],
                 "samples": [{"t": 0, "replicas": 1, "ready": 1, "desired": 1,
                              "cpu_millicores": 20, "memory_bytes": 256 * 2**20},
                             {"t": 5, "replicas": 1, "ready": 1, "desired": 3,
                              "cpu_millicores": 900, "memory_bytes": None}]}


@pytest.mark.parametrize(("quantity", "millicores"), [("250m", 250), ("1", 1000), ("1500u", 1.5), ("2000000n", 2)])
def test_cpu_quantities(quantity, millicores):
    assert timeline.millicores(quantity) == pytest.approx(millicores)


@pytest.mark.parametrize(("quantity", "count"), [("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1G", 1e9), ("100k", 1e5),
                                                 ("52133888", 52133888), ("1500m", 1.5)])
def test_memory_quantities(quantity, count):
    assert timeline.memory_bytes(quantity) == pytest.approx(count)


def test_counts_are_steps_and_error_samples_are_skipped():
    data = timeline.series(API_SERVER)
    # The old count holds until the sample that changes it; the errored sample at t=60 adds nothing.
    assert data["replicas"] == [(0, 1), (50, 1), (50, 2), (100, 2), (100, 1)]
    assert data["metrics"]["cpu"]["points"] == [(0, 5), (50, 300), (100, 4)]
    assert data["metrics"]["cpu"]["target"] == pytest.approx(100)
    assert data["marks"] == [(10, "load starts")]


def test_memory_is_shown_in_mib_beside_cpu():
    data = timeline.series(SPARK_WORKERS)
    assert list(data["metrics"]) == ["cpu", "memory"]
    assert data["metrics"]["memory"]["points"] == [(0, 256)]  # the missing reading is left out, not drawn as 0
    assert data["metrics"]["memory"]["target"] == pytest.approx(1024)
    assert data["desired"] == [(0, 1), (5, 1), (5, 3)] and data["replicas"] == [(0, 1), (5, 1)]


def test_a_utilization_target_reads_percent_samples_and_draws_no_target_line():
    record = {**API_SERVER, "target": [cpu({"type": "Utilization", "averageUtilization": 80}),
                                       {"type": "Pods", "pods": {"metric": {"name": "qps"}}}],
              "samples": [{"t": 0, "replicas": 1, "ready": 1, "desired": 1, "cpu_percent": 42}]}
    data = timeline.series(record)
    assert list(data["metrics"]) == ["cpu"]  # the Pods metric is not one this picture knows
    assert data["metrics"]["cpu"] == {"label": "CPU per pod (% of request)", "points": [(0, 42)], "target": None}


@pytest.mark.parametrize("record", [API_SERVER, SPARK_WORKERS], ids=["cpu", "cpu+memory"])
def test_the_png_is_written(tmp_path, record):
    out = timeline.png(record, tmp_path / "hpa-timeline.png")
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    # IHDR width and height: 9x4 inches at 100 dpi.
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (900, 400)


def test_the_cli_writes_the_png(tmp_path):
    source = tmp_path / "record.json"
    source.write_text(json.dumps(API_SERVER))
    assert timeline.main([str(source), str(tmp_path / "out.png")]) == 0
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert timeline.main([str(source)]) == 2
