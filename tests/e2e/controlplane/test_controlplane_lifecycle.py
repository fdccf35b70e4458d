"""cluster-up / cluster-down: loopback only, ready when it says so, nothing left running after."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from tools.controlplane.cluster import COMPONENTS, ROOT, ControlPlane

pytestmark = pytest.mark.e2e


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _exited(pid: int) -> bool:
    """Gone, or a zombie: it has exited and only waits for init to collect its status."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _listen_addresses(pid: int) -> set[str]:
    """Local addresses of the sockets a process listens on (from /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                addresses.add(local.split(":")[0])
    return addresses


def test_up_serves_on_loopback_and_down_leaves_nothing_running(binaries_built, e2e_state_dir):
    state_dir = e2e_state_dir / "lifecycle"
    command = [sys.executable, "-m", "tools.controlplane.cluster"]
    up = subprocess.run([*command, "up", "--state-dir", str(state_dir)], cwd=ROOT,
                        capture_output=True, text=True, timeout=600)
    plane = ControlPlane(state_dir)
    try:
        assert up.returncode == 0, up.stderr
        assert "control plane ready" in up.stdout
        running = plane.running()
        assert sorted(running) == sorted(COMPONENTS), up.stdout + up.stderr

        # The CLI exited; the components kept running and answer through the written kubeconfig.
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        version = client.VersionApi(api).get_code()
        assert version.git_version.startswith("v1.34."), version
        api.close()

        # Loopback only: 0100007F is 127.0.0.1 in /proc/net/tcp's little-endian hex.
        for component, pid in running.items():
            addresses = _listen_addresses(pid)
            assert addresses and addresses <= {"0100007F"}, f"{component} listens on {addresses}"

        # A second `up` is idempotent: it says the plane already runs and starts no second set.
        again = subprocess.run([*command, "up", "--state-dir", str(state_dir)], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "already running" in again.stdout, again.stderr
        assert plane.running() == running
    finally:
        down = subprocess.run([*command, "down", "--state-dir", str(state_dir)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    for component, pid in running.items():
        assert _exited(pid), f"{component} (pid {pid}) still running after cluster-down"
    assert plane.running() == {}
    endpoints = plane.endpoints()
    for port in (endpoints.etcd_client_port, endpoints.apiserver_port, endpoints.controller_manager_port):
        assert not _listening(port), f"port {port} still open after cluster-down"
    status = subprocess.run([*command, "status", "--state-dir", str(state_dir)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 3 and status.stdout.count("stopped") == len(COMPONENTS)
