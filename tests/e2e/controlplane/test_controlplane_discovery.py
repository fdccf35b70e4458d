"""Offline (run by `make test`): which processes belong to a control plane, without the binaries.

Stand-in components are Python sleepers started under a component's name (argv[0]) with the
flags that reference the state directory, exactly what /proc shows for the real ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.controlplane.cluster import (
    COMPONENT_ENV,
    STATE_ENV,
    ControlPlane,
    PartlyRunning,
    main,
    references,
    scan_processes,
)

SLEEP = "import time; time.sleep(120)"


def _fake(argv0: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """A process whose /proc/<pid>/cmdline is `argv0 -c SLEEP args...`."""
    process = subprocess.Popen([argv0, "-c", SLEEP, *args], executable=sys.executable,
                               env={**os.environ, **(env or {})}, start_new_session=True)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")[0] != argv0.encode():
        assert time.monotonic() < deadline, "fake process did not start"
        time.sleep(0.02)
    return process


@pytest.fixture
def fakes():
    started: list[subprocess.Popen] = []

    def start(*args, **kwargs) -> subprocess.Popen:
        started.append(_fake(*args, **kwargs))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def _gone(process: subprocess.Popen, seconds: float = 10) -> bool:
    try:
        process.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def test_an_argument_references_the_directory_only_as_a_path(tmp_path):
    state = str(tmp_path / "state")
    assert references(["etcd", f"--data-dir={state}/etcd-data"], state)
    assert references(["x", state], state)
    assert references(["x", f"--kubeconfig={state}/kubeconfig"], state)
    assert not references(["x", f"--data-dir={state}2/etcd-data"], state)  # a sibling directory
    assert not references(["x", f"/elsewhere{state}/etcd-data"], state)  # the same path below another
    assert not references(["x", "--v=1"], state)


def test_processes_of_the_plane_are_found_by_command_line_from_any_binary_path(tmp_path, fakes, capsys):
    """Another TOOLS_DIR, a symlinked .tools, no PID file: still ours, still stopped by down."""
    state = tmp_path / "state"
    etcd = fakes("/some/other/tools/bin/etcd", f"--data-dir={state}/etcd-data")
    sibling = fakes("/some/other/tools/bin/etcd", f"--data-dir={state}-other/etcd-data")
    not_a_component = fakes("/usr/bin/kubectl", f"--kubeconfig={state}/kubeconfig")
    plane = ControlPlane(state, tools_bin=tmp_path / "tools" / "bin")

    assert plane.running() == {"etcd": etcd.pid}
    assert {p.pid for p in scan_processes(state)} == {etcd.pid, not_a_component.pid}

    assert main(["status", "--state-dir", str(state)]) == 1
    out = capsys.readouterr().out
    assert f"etcd: running (pid {etcd.pid}; its PID file is missing)" in out
    assert "kube-apiserver: stopped" in out and "degraded" in out

    assert main(["down", "--state-dir", str(state)]) == 0
    assert f"control plane stopped: etcd (pid {etcd.pid}, no PID file)" in capsys.readouterr().out
    assert _gone(etcd)
    assert sibling.poll() is None and not_a_component.poll() is None, "down stopped a process not of this plane"
    assert plane.running() == {}


def test_the_environment_marker_identifies_a_wrapped_component(tmp_path, fakes):
    """A component whose argv[0] is not its name (a wrapper that execs it) is found by its marker."""
    state = (tmp_path / "state").resolve()
    wrapped = fakes("/usr/sbin/some-wrapper", env={STATE_ENV: str(state), COMPONENT_ENV: "kube-apiserver"})
    foreign = fakes("/usr/sbin/some-wrapper", env={STATE_ENV: str(state) + "-x", COMPONENT_ENV: "etcd"})
    plane = ControlPlane(state)
    assert plane.running() == {"kube-apiserver": wrapped.pid}
    assert plane.down().components == ["kube-apiserver"]
    assert _gone(wrapped) and foreign.poll() is None


def test_up_refuses_a_partial_plane_and_keeps_its_data(tmp_path, fakes, capsys):
    """The original fault: a second etcd on the same data directory. `up` must not start one,
    must not wipe the data of the running one, and must say what to do."""
    state = tmp_path / "state"
    (state / "etcd-data").mkdir(parents=True)
    (state / "etcd-data" / "member").write_text("data of the running etcd")
    etcd = fakes("/x/bin/etcd", f"--data-dir={state}/etcd-data")
    before = {p.pid for p in scan_processes(state)}

    assert main(["up", "--state-dir", str(state)]) == 1
    err = capsys.readouterr().err
    assert "only partly running" in err and f"etcd running (pid {etcd.pid}" in err
    assert "kube-apiserver stopped" in err and "run `make cluster-down`" in err
    assert (state / "etcd-data" / "member").read_text() == "data of the running etcd"
    assert {p.pid for p in scan_processes(state)} == before, "up started something next to a partial plane"
    ControlPlane(state).down()
    assert _gone(etcd)


def test_two_copies_of_a_component_are_reported_and_both_stopped(tmp_path, fakes, capsys):
    state = tmp_path / "state"
    first = fakes("/a/bin/etcd", f"--data-dir={state}/etcd-data")
    second = fakes("/b/bin/etcd", f"--data-dir={state}/etcd-data")
    plane = ControlPlane(state)
    with pytest.raises(PartlyRunning, match=f"running 2 times \\(pids {first.pid}, {second.pid}\\)"):
        plane.up()
    assert main(["down", "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert f"etcd (pid {first.pid}, no PID file)" in out and f"etcd (pid {second.pid}, no PID file)" in out
    assert _gone(first) and _gone(second)


def test_status_and_down_name_a_component_that_exited_without_down(tmp_path, fakes, capsys):
    """kill -9 of one component: status says which one exited (exit 1), down stops the rest."""
    state = tmp_path / "state"
    etcd = fakes("/x/bin/etcd", f"--data-dir={state}/etcd-data")
    apiserver = fakes("/x/bin/kube-apiserver", f"--cert-dir={state}/pki")
    plane = ControlPlane(state)
    plane.pid_file("etcd").parent.mkdir(parents=True)
    for component, process in (("etcd", etcd), ("kube-apiserver", apiserver)):
        plane.pid_file(component).write_text(f"{process.pid}\n")
    etcd.send_signal(signal.SIGKILL)
    etcd.wait()

    assert main(["status", "--state-dir", str(state)]) == 1
    out = capsys.readouterr().out
    assert f"etcd: not running: its PID file names pid {etcd.pid}, which has exited" in out
    assert f"kube-apiserver: running (pid {apiserver.pid}), not ready" in out

    assert main(["down", "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert f"control plane stopped: kube-apiserver (pid {apiserver.pid})" in out
    assert f"had already exited without cluster-down (killed or crashed): etcd (pid {etcd.pid})" in out
    assert _gone(apiserver)
    assert not plane.pid_file("etcd").exists() and not plane.pid_file("kube-apiserver").exists()

    assert main(["down", "--state-dir", str(state)]) == 0
    assert "control plane stopped: nothing was running" in capsys.readouterr().out
    assert main(["status", "--state-dir", str(state)]) == 3
