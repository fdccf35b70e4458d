"""Runs last: a killed cluster is recovered by the next `up`; `down` twice is clean and leaves
nothing of ours on the host (process, mount, network namespace, veth, iptables rule, cgroup)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tools.k8s import layout as L
from tools.k8s.procs import find_ours

pytestmark = pytest.mark.e2e


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.k8s", *args, "--state-dir", str(L.RUN_DIR / "k8s")],
                          cwd=L.ROOT, capture_output=True, text=True, timeout=900)


def _host_network() -> tuple[set[str], list[str]]:
    links = {line.split(":")[1].strip().split("@")[0]
             for line in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()}
    rules = [line for line in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines()
             if not line.startswith("#")]
    return links, rules


def test_killed_components_are_recovered_then_down_twice_leaves_nothing(cluster):
    links_before, _ = _host_network()
    victims = [f for f in find_ours(cluster.layout.state_dir) if f.name in ("kubelet", "containerd", "etcd")]
    assert {f.name for f in victims} == {"kubelet", "containerd", "etcd"}
    for found in victims:
        os.kill(found.pid, signal.SIGKILL)

    status = _cli("status")
    assert status.returncode != 0
    assert "kubelet: stopped" in status.stdout and "node mlops-node: not ready" in status.stdout

    up = _cli("up")
    assert up.returncode == 0, up.stderr[-3000:]
    assert "cleaning up after an earlier run" in up.stdout
    assert cluster.healthy()

    first = _cli("down")
    assert first.returncode == 0, first.stderr
    assert "no process, mount, network namespace or cgroup of ours is left" in first.stdout
    assert cluster.leftovers() == []
    links_after, rules_after = _host_network()
    assert links_after == links_before  # no veth or bridge of ours on the host
    assert not [r for r in rules_after if "KUBE-" in r or L.POD_SUBNET.rsplit(".", 1)[0] in r]

    second = _cli("down")
    assert second.returncode == 0, second.stderr
    assert "nothing (was not running)" in second.stdout
