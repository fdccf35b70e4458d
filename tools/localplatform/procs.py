"""Start services as their own process groups, remember them in PID files, stop them all.

Every service leads its own session (setsid), and its processes carry the environment variable
MARKER_ENV = <run dir>. `stray_processes` finds a process by either: the session catches children
whose environ was overwritten (setproctitle reuses that memory, as Airflow does), the marker catches
a child that started its own session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MARKER_ENV = "LOCALPLATFORM_RUN"


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    stop_signal: int = signal.SIGTERM


class ProcessTable:
    """PID files under `pid_dir`, logs under `log_dir`; one file per service."""

    def __init__(self, run_dir: Path, pid_dir: Path, log_dir: Path):
        self.run_dir = run_dir
        self.pid_dir = pid_dir
        self.log_dir = log_dir

    def pid_file(self, name: str) -> Path:
        return self.pid_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, service: Service) -> int:
        if self.is_running(service.name):
            raise RuntimeError(f"{service.name} already running (pid file {self.pid_file(service.name)})")
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(service.env)
        env[MARKER_ENV] = str(self.run_dir)
        with open(self.log_file(service.name), "ab") as log:
            proc = subprocess.Popen(
                service.argv, env=env, cwd=service.cwd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,  # own group: stopped as one
            )
        self.pid_file(service.name).write_text(f"{proc.pid} {int(service.stop_signal)}\n")
        self._audit(f"start {service.name} as group {proc.pid}")
        # What the service was started with, for checks against the manifests (may hold secrets).
        env_file = self.pid_dir / f"{service.name}.env.json"
        env_file.touch(mode=0o600)
        env_file.write_text(json.dumps(env, indent=1, sort_keys=True))
        return proc.pid

    def started_env(self, name: str) -> dict[str, str]:
        return json.loads((self.pid_dir / f"{name}.env.json").read_text())

    def _audit(self, event: str) -> None:
        """Who started/stopped what: one line per action, so an unexpected stop can be traced."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        caller = " ".join(sys.argv)[:200]
        with open(self.log_dir / "processes.log", "a") as audit:
            audit.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()} ({caller}): {event}\n")

    def read(self, name: str) -> tuple[int, int] | None:
        try:
            pid, sig = self.pid_file(name).read_text().split()
        except (FileNotFoundError, ValueError):
            return None
        return int(pid), int(sig)

    def is_running(self, name: str) -> bool:
        entry = self.read(name)
        return entry is not None and _alive(entry[0])

    def names(self) -> list[str]:
        if not self.pid_dir.is_dir():
            return []
        return sorted(p.stem for p in self.pid_dir.glob("*.pid"))

    def stop(self, name: str, timeout: float = 30.0) -> None:
        """Signal the service's whole process group, wait, then SIGKILL what is left."""
        entry = self.read(name)
        if entry is None:
            return
        pid, sig = entry
        self._audit(f"stop {name} (group {pid}, signal {sig})")
        _signal_group(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file(name).unlink(missing_ok=True)
        (self.pid_dir / f"{name}.env.json").unlink(missing_ok=True)

    def stray_processes(self, sessions: set[int] = frozenset()) -> list[tuple[int, str]]:
        """Live processes carrying this run's marker or belonging to one of `sessions`."""
        return find_marked(self.run_dir, sessions)

    def kill_strays(self, sessions: set[int] = frozenset()) -> list[tuple[int, str]]:
        strays = self.stray_processes(sessions)
        for pid, _ in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return strays


def find_marked(run_dir: Path, sessions: set[int] = frozenset()) -> list[tuple[int, str]]:
    wanted = f"{MARKER_ENV}={run_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            in_session = int(fields[3]) in sessions  # fields[3] is the session id
            if not in_session and wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((int(entry.name), cmdline.strip()))
    return found


def _is_zombie(proc_dir: Path) -> bool:
    stat = (proc_dir / "stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(Path(f"/proc/{pid}"))


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:  # fields[2] is the process group id
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
