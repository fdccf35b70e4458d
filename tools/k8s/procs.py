"""Processes of the one-node cluster: start them inside the node's network namespace, find them
again by their command line (never by PID file alone), stop them, and clean what they leave.

Every process we start names the state directory in its arguments (a config path, a socket
path or a `--tag`), so a scan of /proc finds each one even when its PID file is gone or stale.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

# Executables we start (or that containerd starts for us); anything else is never signalled.
OUR_EXECUTABLES = {
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
    "containerd", "containerd-shim-runc-v2", "registry",
}
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


@dataclass(frozen=True)
class Found:
    pid: int
    name: str
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ValueError, IndexError):
            break
    return pids


def alive(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def find_ours(state_dir: Path) -> list[Found]:
    """Every live process of ours: a known executable (or our forwarder, the platform's servers and
    its Keycloak) naming `state_dir`."""
    marker = str(state_dir.resolve())
    skip = _ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            argv = tuple(a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if not argv or not any(marker in a for a in argv):
            continue
        name = os.path.basename(argv[0])
        if name.startswith("python") and "tools.k8s.forward" in argv:
            name = "forwarder"
        elif name.startswith("python") and any(a.startswith("tools.platform.") for a in argv):
            # The local platform's servers in the node namespace (git server, SKM, receivers).
            name = next(a for a in argv if a.startswith("tools.platform.")).rsplit(".", 1)[-1]
        elif (name == "java" and any(a.startswith("-Dkc.home.dir=") for a in argv)) or \
                (len(argv) > 1 and argv[1].endswith("/bin/kc.sh")):
            # The local platform's Keycloak (tools/idp, home under the state dir): the JVM, or kc.sh
            # while it still waits for the JVM's first (build) run.
            name = "keycloak"
        elif name not in OUR_EXECUTABLES:
            continue
        if alive(int(entry.name)):
            found.append(Found(int(entry.name), name, argv))
    return sorted(found, key=lambda f: f.pid)


def spawn(argv: list[str], log: Path, pid_file: Path, netns: str | None, cwd: Path) -> int:
    """Start `argv` (inside `netns` via nsenter, which enters only the network namespace and
    then execs, so the PID is the component's own and mounts stay shared with the host)."""
    command = (["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []) + argv
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=cwd, start_new_session=True)
    pid_file.write_text(f"{process.pid}\n")
    # Until the last exec (Popen's, then nsenter's), the PID shows another command line; callers
    # check "is this our component?" by command line, so return only once argv is the component's.
    want = argv[0].encode()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")[0] == want:
                break
        except FileNotFoundError:
            break
        time.sleep(0.01)
    return process.pid


def stop(pid: int, grace: float = 20.0) -> bool:
    """TERM, wait up to `grace` seconds, then KILL. True if it needed the KILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return False
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    for _ in range(100):
        if not alive(pid):
            break
        time.sleep(0.1)
    return True


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a thread that has entered `netns` (only that thread moves)."""
    result: list = []

    def runner() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {netns}")
            finally:
                os.close(fd)
            result.append((True, fn()))
        except BaseException as error:  # handed to the caller below
            result.append((False, error))

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    thread.join()
    ok, value = result[0]
    if not ok:
        raise value
    return value


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first (the order to unmount them)."""
    prefix = str(path.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all(path: Path) -> list[str]:
    """Unmount everything below `path`; returns what could not be unmounted."""
    for _ in range(5):
        points = mounts_under(path)
        if not points:
            return []
        for point in points:
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)
    return mounts_under(path)


def cgroup_dirs(cgroup_root: str) -> list[Path]:
    """Our cgroup directories in every mounted hierarchy, deepest first."""
    dirs = []
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / cgroup_root.lstrip("/")
        # os.walk ignores directories that vanish while it walks (pods ending meanwhile).
        for parent, children, _ in os.walk(top):
            dirs.extend(Path(parent) / child for child in children)
        if top.is_dir():
            dirs.append(top)
    return sorted(dirs, key=lambda p: -len(p.parts))


def kill_cgroup_tree(cgroup_root: str, timeout: float = 20.0) -> int:
    """SIGKILL every process below our cgroup root (every pod's containers) until none is left."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = set()
        for directory in cgroup_dirs(cgroup_root):
            try:
                pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
            except (FileNotFoundError, OSError):
                continue
        pids = {p for p in pids if alive(p)}
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    return len(killed)


def remove_cgroups(cgroup_root: str) -> list[Path]:
    """rmdir our cgroup directories; returns the ones that are still there."""
    for _ in range(20):
        left = []
        for directory in cgroup_dirs(cgroup_root):
            try:
                directory.rmdir()
            except OSError:
                left.append(directory)
        if not left:
            return []
        time.sleep(0.25)
    return cgroup_dirs(cgroup_root)
