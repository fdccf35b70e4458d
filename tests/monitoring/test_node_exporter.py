"""node-exporter: the pinned binary accepts the DaemonSet's exact arguments and serves every metric
the catalogue lists for it (run on this machine's own /proc and /sys instead of the host mounts)."""
from __future__ import annotations

import pytest
import requests
from live_support import free_port, parse_samples, running
from monitoring_support import catalogue, tool, versions

# The DaemonSet mounts the host's /proc, /sys and / under /host; here the process is on the host.
HOST_PATHS = {"/host/proc": "/proc", "/host/sys": "/sys", "/host/root": "/"}


def daemonset_args(render_overlay) -> list[str]:
    daemonset = next(o for o in render_overlay("prod") if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "node-exporter")
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith(":" + versions()["NODE_EXPORTER_VERSION"]), "image and tested binary differ"
    args = []
    for arg in container["args"]:
        for mounted, local in HOST_PATHS.items():
            arg = arg.replace(f"={mounted}/", f"={local.rstrip('/')}/").replace(f"={mounted}", f"={local}")
        args.append(arg)
    return args


@pytest.mark.slow
def test_daemonset_arguments_work_and_serve_the_catalogued_metrics(render_overlay, tmp_path):
    port = free_port()
    args = [a for a in daemonset_args(render_overlay) if not a.startswith("--web.listen-address")]
    command = [str(tool("node_exporter")), *args, f"--web.listen-address=127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}/metrics"
    with running(command, url, tmp_path / "node_exporter.log"):
        names = {name for name, _, _ in parse_samples(requests.get(url, timeout=10).text)}
    missing = set(catalogue()["node-exporter"]["metrics"]) - names
    assert missing == set(), f"catalogued for node-exporter but not served: {sorted(missing)}"
