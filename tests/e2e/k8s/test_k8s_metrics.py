"""metrics-server scrapes the kubelet: `kubectl top pod` shows the CPU a busy pod burns."""

from __future__ import annotations

import time

import pytest

from tests.e2e.k8s.conftest import image_records, restricted_pod

pytestmark = pytest.mark.e2e


def test_kubectl_top_shows_cpu_of_a_busy_pod(cluster, namespace):
    record = image_records("jobs")["airflow"]
    ns = namespace("busy")
    pod = restricted_pod("busy", f"{record['image']}@{record['digest']}",
                         ["python", "-c", "import time\nend = time.time() + 600\nwhile time.time() < end: pass"],
                         restart="Always")
    pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "500m"
    ns.apply(pod)
    ns.wait_ready("busy", timeout=300)
    deadline = time.monotonic() + 180
    last = ""
    while time.monotonic() < deadline:
        result = cluster.kubectl("-n", ns.name, "top", "pod", "busy", "--no-headers", check=False)
        last = result.stdout.strip() or result.stderr.strip()
        if result.returncode == 0 and last:
            millicores = int(last.split()[1].rstrip("m"))
            if millicores > 0:
                assert millicores <= 600  # the limit holds (with scrape jitter)
                return
        time.sleep(5)
    raise AssertionError(f"kubectl top pod never showed CPU for the busy pod: {last}")
