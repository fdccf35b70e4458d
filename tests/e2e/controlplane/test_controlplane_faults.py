"""cluster-up / cluster-down / cluster-status under faults, with the real binaries.

Each test asserts what the user sees (exit code, message) and that nothing of ours is left,
found independently of the code under test: any live process whose command line names the
state directory (/proc/*/cmdline), not the PID files.

Cost: one full start shared by the tests of a running plane (`shared_plane`), which end by
killing etcd; the other faults stop after etcd or the API server, so they cost a few seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.controlplane.cluster import COMPONENTS, ROOT, TOOLS_BIN, ControlPlane, Endpoints, main

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "tools.controlplane.cluster"]


def cli(command: str, state: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, command, "--state-dir", str(state)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def cli_background(command: str, state: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*CLI, command, "--state-dir", str(state)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(state: Path) -> dict[int, list[str]]:
    """PID -> argv of every live process (zombies excluded) with an argument naming `state`."""
    marker = str(state.resolve()).encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            state_letter = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state_letter in ("Z", "X"):
            continue
        if any(arg.endswith(marker) or marker + b"/" in arg for arg in argv):
            found[int(proc.name)] = [a.decode(errors="replace") for a in argv]
    return found


def components_found(state: Path) -> dict[str, list[int]]:
    """Component -> PIDs, by the file name of argv[0] of the processes naming `state`."""
    found: dict[str, list[int]] = {}
    for pid, argv in leftovers(state).items():
        name = Path(argv[0]).name
        if name in COMPONENTS:
            found.setdefault(name, []).append(pid)
    return found


def wait_until(condition, what: str, seconds: float = 120, interval: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {seconds}s waiting for {what}")


def gone(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) in ("Z", "X")
    except FileNotFoundError:
        return True


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- faults on a running plane (one shared start) ---------------------------------------------

@pytest.fixture(scope="module")
def shared_plane(binaries_built, e2e_state_dir):
    """Started the hard way: stale PID files first (one dead PID, one stranger's), the first `up`
    through another TOOLS_DIR (a symlink to the binaries), a second `up` while the first runs."""
    state = (e2e_state_dir / "faults").resolve()
    (state / "pids").mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stranger = subprocess.Popen(["sleep", "600"])
    (state / "pids" / "etcd.pid").write_text(f"{dead.pid}\n")
    (state / "pids" / "kube-apiserver.pid").write_text(f"{stranger.pid}\n")
    other_tools = e2e_state_dir / "other-tools"
    other_tools.mkdir(exist_ok=True)
    if not (other_tools / "bin").exists():
        (other_tools / "bin").symlink_to(TOOLS_BIN.resolve(), target_is_directory=True)
    default_env = {k: v for k, v in os.environ.items() if k != "TOOLS_DIR"}
    try:
        first = cli_background("up", state, env={**default_env, "TOOLS_DIR": str(other_tools)})
        wait_until(lambda: "etcd" in components_found(state) or first.poll() is not None, "the first up's etcd")
        second = cli_background("up", state, env=default_env)
        first_out, first_err = first.communicate(timeout=600)
        second_out, second_err = second.communicate(timeout=600)
        yield {
            "state": state, "stranger": stranger, "dead_pid": dead.pid, "other_tools": other_tools,
            "first": (first.returncode, first_out, first_err, first.pid),
            "second": (second.returncode, second_out, second_err),
        }
    finally:
        down = cli("down", state, env=default_env)
        stranger.kill()
        stranger.wait()
        assert down.returncode == 0, down.stderr
        assert leftovers(state) == {}


def test_up_ignores_stale_pid_files_and_leaves_the_stranger_alone(shared_plane):
    code, out, err, _ = shared_plane["first"]
    assert code == 0, err
    assert "control plane ready" in out
    assert "ignoring stale PID files" in err
    assert f"etcd (pid {shared_plane['dead_pid']})" in err
    assert f"kube-apiserver (pid {shared_plane['stranger'].pid})" in err
    assert shared_plane["stranger"].poll() is None, "cluster-up killed a process it did not start"
    # The components run from the other TOOLS_DIR path and are still seen as ours.
    found = components_found(shared_plane["state"])
    for component, pids in found.items():
        argv0 = leftovers(shared_plane["state"])[pids[0]][0]
        assert argv0 == str(shared_plane["other_tools"] / "bin" / component)


def test_second_up_while_the_first_starts_waits_and_reports_already_running(shared_plane):
    code, out, err = shared_plane["second"]
    first_pid = shared_plane["first"][3]
    assert code == 0, err
    assert f"waiting for `cluster-up` (pid {first_pid})" in err
    assert "is already running" in out and "nothing started" in out
    found = components_found(shared_plane["state"])
    assert sorted(found) == sorted(COMPONENTS)
    assert all(len(pids) == 1 for pids in found.values()), f"a second set was started: {found}"


def test_up_on_a_running_plane_is_idempotent(shared_plane):
    """What `make cluster-up && make cluster-up` does the second time."""
    state = shared_plane["state"]
    before = components_found(state)
    again = cli("up", state, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"control plane in {state} is already running" in again.stdout
    for component, pids in before.items():
        assert f"{component} (pid {pids[0]})" in again.stdout
    assert components_found(state) == before


def test_processes_whose_pid_files_are_gone_are_still_found(shared_plane):
    state = shared_plane["state"]
    before = components_found(state)
    for pid_file in (state / "pids").iterdir():
        pid_file.unlink()

    status = cli("status", state, timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    for component, pids in before.items():
        assert f"{component}: running (pid {pids[0]}; its PID file is missing)" in status.stdout

    again = cli("up", state, timeout=120)
    assert again.returncode == 0 and "is already running" in again.stdout, again.stderr
    assert again.stderr.count("re-recorded") == len(COMPONENTS)
    assert components_found(state) == before, "up started a second set next to the unrecorded one"
    for component, pids in before.items():
        assert (state / "pids" / f"{component}.pid").read_text().strip() == str(pids[0])


def test_kill_9_of_etcd_is_reported_and_down_leaves_nothing(shared_plane):
    state = shared_plane["state"]
    before = components_found(state)
    etcd = before["etcd"][0]
    endpoints = ControlPlane(state).endpoints()
    os.kill(etcd, signal.SIGKILL)
    wait_until(lambda: gone(etcd), "etcd to die")

    status = cli("status", state, timeout=120)
    assert status.returncode == 1, status.stdout
    assert f"etcd: not running: its PID file names pid {etcd}, which has exited without " \
           "`make cluster-down` (killed or crashed)" in status.stdout
    assert f"kube-apiserver: running (pid {before['kube-apiserver'][0]}" in status.stdout
    assert "degraded; `make cluster-down` stops what is left" in status.stdout

    up = cli("up", state, timeout=120)
    assert up.returncode == 1
    assert "only partly running or unhealthy" in up.stderr and "run `make cluster-down`" in up.stderr
    assert "etcd" not in components_found(state), "up started an etcd next to the leftovers"

    down = cli("down", state, timeout=180)
    assert down.returncode == 0, down.stderr
    assert (f"control plane stopped: kube-controller-manager (pid {before['kube-controller-manager'][0]}), "
            f"kube-apiserver (pid {before['kube-apiserver'][0]})") in down.stdout
    assert f"had already exited without cluster-down (killed or crashed): etcd (pid {etcd})" in down.stdout
    assert leftovers(state) == {}
    for port in (endpoints.etcd_client_port, endpoints.apiserver_port, endpoints.controller_manager_port):
        assert not listening(port), f"port {port} still open after cluster-down"

    status = cli("status", state, timeout=60)
    assert status.returncode == 3 and status.stdout.count(": stopped") == len(COMPONENTS), status.stdout
    again = cli("down", state, timeout=60)
    assert again.returncode == 0 and "control plane stopped: nothing was running" in again.stdout


# --- faults during start-up (each a partial start) --------------------------------------------

def test_sigterm_during_up_stops_what_it_had_started(binaries_built, e2e_state_dir):
    state = (e2e_state_dir / "faults-sigterm").resolve()
    up = cli_background("up", state)
    wait_until(lambda: "etcd" in components_found(state) or up.poll() is not None, "etcd to start")
    assert up.poll() is None, "up finished before it could be interrupted"
    up.send_signal(signal.SIGTERM)
    out, err = up.communicate(timeout=120)
    assert up.returncode == 128 + signal.SIGTERM, out + err
    assert "controlplane: interrupted by SIGTERM; stopped what had been started" in err
    assert leftovers(state) == {}
    status = cli("status", state, timeout=60)
    assert status.returncode == 3 and "not running" in status.stdout


def test_down_after_up_was_killed_midway_stops_the_orphans(binaries_built, e2e_state_dir):
    """SIGKILL of the `up` process (a CI timeout): no cleanup ran; `down` must find what it left."""
    state = (e2e_state_dir / "faults-sigkill").resolve()
    up = cli_background("up", state)
    wait_until(lambda: "etcd" in components_found(state) or up.poll() is not None, "etcd to start")
    up.kill()
    up.communicate(timeout=60)
    orphans = components_found(state)
    assert "etcd" in orphans, "the killed up left nothing behind: the fault did not happen"

    status = cli("status", state, timeout=60)
    assert status.returncode == 1 and "degraded" in status.stdout, status.stdout
    again = cli("up", state, timeout=60)
    assert again.returncode == 1 and "only partly running" in again.stderr, again.stdout + again.stderr

    down = cli("down", state, timeout=180)
    assert down.returncode == 0, down.stderr
    for component, pids in orphans.items():
        assert f"{component} (pid {pids[0]}" in down.stdout
    assert leftovers(state) == {}


class _BusyApiserverPort(ControlPlane):
    """Every attempt picks a port for the API server that something else holds."""

    busy_port = 0

    def _pick_endpoints(self) -> Endpoints:
        endpoints = super()._pick_endpoints()
        endpoints.apiserver_port = self.busy_port
        return endpoints


class _NoPortCheck(_BusyApiserverPort):
    """The port is taken after the check: the API server itself fails to bind."""

    def _check_ports(self, component, endpoints) -> None:
        pass


@pytest.fixture
def busy_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_port_in_use_is_named_with_its_holder_and_down_after_the_failed_start(
        binaries_built, e2e_state_dir, busy_port, capsys, monkeypatch):
    state = (e2e_state_dir / "faults-port").resolve()
    monkeypatch.setattr(_BusyApiserverPort, "busy_port", busy_port)
    assert main(["up", "--state-dir", str(state)], plane_class=_BusyApiserverPort) == 1
    err = capsys.readouterr().err
    message = f"port {busy_port} picked as the kube-apiserver secure port is in use by pid {os.getpid()}"
    assert err.count(message) == 2, err  # the first attempt, the one retry
    assert "retrying once with new ports" in err
    assert err.count("start-up failed; stopped what it had started: etcd (pid ") == 2, err
    assert leftovers(state) == {}, "the etcd of the failed start was left running"

    assert main(["down", "--state-dir", str(state)]) == 0
    assert "control plane stopped: nothing was running" in capsys.readouterr().out
    assert main(["status", "--state-dir", str(state)]) == 3


def test_a_component_that_cannot_bind_is_named_with_its_log(binaries_built, e2e_state_dir, busy_port,
                                                           capsys, monkeypatch):
    state = (e2e_state_dir / "faults-bind").resolve()
    monkeypatch.setattr(_BusyApiserverPort, "busy_port", busy_port)
    assert main(["up", "--state-dir", str(state)], plane_class=_NoPortCheck) == 1
    err = capsys.readouterr().err
    assert "retrying once with new ports" in err
    assert err.count("kube-apiserver exited during start-up (exit status") == 2, err
    assert "address already in use" in err
    assert leftovers(state) == {}


class _KillEtcdWhenApiserverStarts(ControlPlane):
    """etcd is SIGKILLed just as the API server is spawned (through the `_spawn` hook)."""

    def _spawn(self, component, argv):
        if component == "kube-apiserver":
            etcd = self._children["etcd"]
            etcd.send_signal(signal.SIGKILL)
            etcd.wait()
        return super()._spawn(component, argv)


def test_component_killed_during_start_is_named_with_the_signal(binaries_built, e2e_state_dir, capsys):
    state = (e2e_state_dir / "faults-killed").resolve()
    assert main(["up", "--state-dir", str(state)], plane_class=_KillEtcdWhenApiserverStarts) == 1
    err = capsys.readouterr().err
    assert "etcd exited during start-up of kube-apiserver (killed by SIGKILL)" in err
    assert leftovers(state) == {}
    assert main(["status", "--state-dir", str(state)]) == 3
