"""Start and stop a real, local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager.

Everything listens on 127.0.0.1 only, on free high ports picked at start. State (certificates,
etcd data, logs, PID files, kubeconfig) lives in one directory, by default .run/controlplane/.
There is no kubelet and no scheduler: objects are stored, validated, defaulted, admitted and
reconciled by controllers, but pods never run.

CLI (what `make cluster-up` / `make cluster-down` / `make cluster-status` call):
    python -m tools.controlplane.cluster up|down|status [--state-dir DIR]

    up      start every component; if the whole plane already runs and is healthy, say so and
            exit 0 without starting anything (idempotent). Exit 1 if it cannot start, or if only
            part of a plane runs (the message says what to do).
    down    stop every process of this plane, found by its command line (not only by PID file);
            exit 0 once nothing is left, also when nothing was running.
    status  one line per component; exit 0 running and healthy, 1 degraded (a component exited,
            runs twice, or is not ready), 3 not running.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.controlplane import pki as pki_module

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools")) / "bin"
DEFAULT_STATE_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run")) / "controlplane"
# Start order; components are stopped in the reverse order (consumers first, storage last).
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
STOP_GRACE_SECONDS = 30
READY_TIMEOUT_SECONDS = 180
# How long `up`/`down` wait for another `up`/`down` on the same state directory to finish.
LOCK_TIMEOUT_SECONDS = 900
# Every spawned component carries these in its environment (a second marker next to its command
# line; it survives wrappers such as `ip netns exec` that exec the component).
STATE_ENV = "CONTROLPLANE_STATE_DIR"
COMPONENT_ENV = "CONTROLPLANE_COMPONENT"


class ControlPlaneError(RuntimeError):
    """A component failed to start or stop; the message names it and points at its log."""


class AlreadyRunning(ControlPlaneError):
    """`up` found the whole plane running and healthy; nothing was started."""


class PartlyRunning(ControlPlaneError):
    """`up` found part of a plane (a component exited, or runs twice): refuse, point at `down`."""


class PortInUse(ControlPlaneError):
    """A port picked for a component was taken before the component could bind it."""


class Interrupted(ControlPlaneError):
    """`up` got SIGTERM/SIGHUP/SIGINT; what it had started was stopped again."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


# --- process discovery (the one place that decides which processes belong to a state dir) ----

@dataclass(frozen=True)
class ProcessInfo:
    """A live process that references a directory: its PID, argv and our environment markers."""

    pid: int
    argv: tuple[str, ...]
    markers: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


# Characters that may precede a path inside an argument (`--data-dir=/x`, `a:/x`, `"/x`).
_PATH_LEAD = frozenset("=:,; \t'\"")


def references(argv: Sequence[str], directory: str) -> bool:
    """True if an argument names `directory` or something below it (not /other/prefix-of-it)."""
    for arg in argv:
        start = arg.find(directory)
        while start != -1:
            end = start + len(directory)
            if (start == 0 or arg[start - 1] in _PATH_LEAD) and (end == len(arg) or arg[end] == "/"):
                return True
            start = arg.find(directory, start + 1)
    return False


def _proc_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat (R, S, D, Z, ...), None if there is no such process."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 3 (after the parenthesised command name, which may itself contain ')') is the state.
    return status.rsplit(")", 1)[1].split()[0]


def _process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (Z) or dead (X)."""
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _read_markers(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # another user's process, or gone
        return {}
    markers = {}
    for entry in raw.split(b"\0"):
        key, _, value = entry.partition(b"=")
        if key in (STATE_ENV.encode(), COMPONENT_ENV.encode()):
            markers[key.decode()] = value.decode(errors="surrogateescape")
    return markers


def _check_proc_is_ours() -> None:
    # In a container whose /proc belongs to another PID namespace, every PID we know would look
    # dead and every process we see would be a stranger: refuse instead of guessing.
    try:
        proc_self = Path("/proc/self").resolve().name
    except OSError:
        proc_self = ""
    if proc_self != str(os.getpid()):
        raise ControlPlaneError(
            f"/proc does not show this process (pid {os.getpid()}, /proc/self -> {proc_self!r}); "
            "processes cannot be discovered in this PID namespace")


def scan_processes(directory: Path | str) -> list[ProcessInfo]:
    """Every live process (but this one) whose command line references `directory`, or whose
    environment carries STATE_ENV=<directory>. Sorted by PID.

    This is the ground truth for "is something of ours running": PID files can be deleted
    (`make clean`), stale (reboot, PID reuse), or never written (start-up killed).
    """
    _check_proc_is_ours()
    directory = str(directory)
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if not raw:  # kernel thread or zombie
            continue
        argv = tuple(arg.decode(errors="surrogateescape") for arg in raw.rstrip(b"\0").split(b"\0"))
        markers = _read_markers(pid)
        if not (references(argv, directory) or markers.get(STATE_ENV) == directory):
            continue
        if _process_alive(pid):
            found.append(ProcessInfo(pid, argv, markers))
    return sorted(found, key=lambda p: p.pid)


def listener_of(port: int) -> ProcessInfo | None:
    """The process holding a TCP socket bound to `port` (any address), if it can be seen."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = list(os.scandir(f"/proc/{entry.name}/fd"))
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd.path) in inodes:
                    raw = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                    argv = tuple(a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0"))
                    return ProcessInfo(int(entry.name), argv)
            except OSError:
                continue
    return None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the Go listeners of the components: a port in TIME_WAIT is free to bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _short(argv: Sequence[str], limit: int = 100) -> str:
    text = " ".join(argv)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- endpoints, kubeconfig --------------------------------------------------------------------

@dataclass
class Endpoints:
    etcd_client_port: int
    etcd_peer_port: int
    apiserver_port: int
    controller_manager_port: int

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_client_port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pick_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(_free_port())
    return sorted(ports)


def _pick_endpoints() -> Endpoints:
    return Endpoints(*_pick_ports(4))


def _kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    # JSON is valid YAML; no template engine needed.
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
            "current-context": "local",
        },
        indent=2,
    )


# --- what a survey of the state dir found -----------------------------------------------------

@dataclass
class ComponentState:
    """One component as found: live processes (by /proc scan), its PID file, its health."""

    component: str
    pids: list[int]
    recorded: int | None  # the PID in its PID file, None without (readable) PID file
    health: str | None = None  # None = healthy (or not probed); else why it is not ready

    @property
    def running(self) -> bool:
        return bool(self.pids)

    @property
    def exited(self) -> bool:
        """Not running although a PID file says it was started: killed, crashed, or a stale file."""
        return not self.pids and self.recorded is not None

    def describe(self) -> str:
        if not self.pids:
            if self.recorded is None:
                return "stopped"
            return (f"not running: its PID file names pid {self.recorded}, which has exited without "
                    "`make cluster-down` (killed or crashed)")
        pids = ", ".join(map(str, self.pids))
        if len(self.pids) > 1:
            text = f"running {len(self.pids)} times (pids {pids}) on the same state directory"
        elif self.recorded is None:
            text = f"running (pid {pids}; its PID file is missing)"
        elif self.recorded != self.pids[0]:
            text = f"running (pid {pids}; its PID file names pid {self.recorded})"
        else:
            text = f"running (pid {pids})"
        return text + (f", not ready: {self.health}" if self.health else "")


@dataclass
class StopReport:
    """What `down` did: (component, pid, note) stopped, components that had exited, stale files."""

    stopped: list[tuple[str, int, str]] = field(default_factory=list)
    already_exited: list[tuple[str, int]] = field(default_factory=list)

    @property
    def components(self) -> list[str]:
        return [component for component, _, _ in self.stopped]

    def message(self) -> str:
        parts = [f"{c} (pid {pid}{', ' + note if note else ''})" for c, pid, note in self.stopped]
        text = "control plane stopped: " + (", ".join(parts) if parts else "nothing was running")
        if self.already_exited:
            exited = ", ".join(f"{c} (pid {pid})" for c, pid in self.already_exited)
            text += f"; had already exited without cluster-down (killed or crashed): {exited}"
        return text


class ControlPlane:
    """One control plane whose whole state lives in `state_dir`.

    Extension points (a node subclass adds kubelet/containerd, maybe in a network namespace):
      COMPONENTS / self.components  start order (stop order is the reverse); per instance
      _args(component, endpoints)   component flags
      _binary(component)            its executable (default tools_bin/<component>)
      _command(component, args)     argv; wrap it (`ip netns exec NS ...`) if the wrapper execs
      _environment(component)       child environment (keeps the discovery markers)
      _spawn(component, argv)       start it, record its PID file, return the Popen
      _probe(component, endpoints)  None when ready/healthy, else the reason
      _ports(component, endpoints)  {purpose: port} it binds (checked free before the spawn)
      _identify(process)            which component a discovered process is (None = not one)
      _pick_endpoints(), _write_config(endpoints), _stop(component, pid)
    Discovery is `processes()` (built on `scan_processes`); everything else asks it.
    """

    COMPONENTS: tuple[str, ...] = COMPONENTS

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, tools_bin: Path = TOOLS_BIN):
        self.state_dir = Path(state_dir).resolve()
        # Absolute (components start with cwd = state dir), but not resolved: any path works.
        self.tools_bin = Path(tools_bin).absolute()
        self.pki = pki_module.Pki(self.state_dir / "pki")
        self.components: list[str] = list(self.COMPONENTS)
        # The processes this object spawned (component -> latest): their exit status is known.
        self._children: dict[str, subprocess.Popen] = {}
        self._lock_depth = 0

    # --- paths -----------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def endpoints_file(self) -> Path:
        return self.state_dir / "endpoints.json"

    @property
    def timings_file(self) -> Path:
        return self.state_dir / "timings.json"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / ".lock"

    def pid_file(self, component: str) -> Path:
        return self.state_dir / "pids" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    def endpoints(self) -> Endpoints:
        return Endpoints(**json.loads(self.endpoints_file.read_text()))

    # --- discovery -------------------------------------------------------------------------
    def _identify(self, process: ProcessInfo) -> str | None:
        """The component a process referencing our state dir is, or None (e.g. the CLI itself,
        a kubectl using our kubeconfig). The environment marker wins; else argv[0]'s file name,
        whatever directory the binary was started from (another TOOLS_DIR, a symlinked path)."""
        if process.markers.get(STATE_ENV) == str(self.state_dir):
            marked = process.markers.get(COMPONENT_ENV)
            if marked in self.components:
                return marked
        name = Path(process.argv[0]).name if process.argv else ""
        return name if name in self.components else None

    def processes(self) -> dict[str, list[int]]:
        """Component -> PIDs of every live process of this plane (usually one each)."""
        found: dict[str, list[int]] = {}
        for process in scan_processes(self.state_dir):
            component = self._identify(process)
            if component is not None:
                found.setdefault(component, []).append(process.pid)
        return found

    def running(self) -> dict[str, int]:
        """Component name -> PID for every component of this control plane still running."""
        return {c: pids[0] for c, pids in self.processes().items()}

    def _recorded_pid(self, component: str) -> int | None:
        try:
            return int(self.pid_file(component).read_text().strip())
        except (OSError, ValueError):
            return None

    def survey(self, probe: bool = True) -> list[ComponentState]:
        """Every component in start order: processes found, PID file, health (if `probe`)."""
        found = self.processes()
        states = [ComponentState(c, found.get(c, []), self._recorded_pid(c)) for c in self.components]
        if probe and any(s.running for s in states):
            try:
                endpoints = self.endpoints()
            except (OSError, ValueError, TypeError) as error:
                for state in states:
                    if state.running:
                        state.health = f"no readable {self.endpoints_file.name} ({error})"
                return states
            for state in states:
                if state.running:
                    state.health = self._probe(state.component, endpoints)
        return states

    # --- locking ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, action: str) -> Iterator[None]:
        """One `up`/`down` at a time per state dir; a second one waits (and says so)."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                print(f"controlplane: waiting for {holder} to finish with {self.state_dir}", file=sys.stderr)
                deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise ControlPlaneError(
                                f"{holder} still holds {self.lock_file} after {LOCK_TIMEOUT_SECONDS}s") from None
                        time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"`{action}` (pid {os.getpid()})\n".encode(), 0)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the lock

    # --- start -----------------------------------------------------------------------------
    def up(self) -> dict[str, float]:
        """Start all components from a clean state; returns seconds to ready per component.

        Raises AlreadyRunning if the whole plane runs and is healthy (the CLI reports that as
        success), PartlyRunning if only part of one runs, ControlPlaneError if a start fails
        (after stopping whatever it had started).
        """
        with self._locked("cluster-up"):
            self._refuse_if_running()
            for component in self.components:
                binary = self._binary(component)
                if not binary.is_file():
                    raise ControlPlaneError(f"{binary} not found; build it with `make controlplane-build`")
            try:
                return self._start_fresh()
            except PortInUse as error:
                # Free ports are picked before the components bind them; on a shared machine
                # another process can take one in between. That (and only that) is worth one retry.
                lines = str(error).splitlines()  # the cause and the log's last line suffice here
                brief = "\n".join(lines[:1] + lines[-1:] if len(lines) > 1 else lines)
                print(f"controlplane: {brief}\ncontrolplane: retrying once with new ports", file=sys.stderr)
                return self._start_fresh()

    def _refuse_if_running(self) -> None:
        states = self.survey(probe=False)
        if not any(s.running for s in states):
            stale = [f"{s.component} (pid {s.recorded})" for s in states if s.exited]
            if stale:
                print(f"controlplane: ignoring stale PID files in {self.state_dir}: {', '.join(stale)}; "
                      "no process of this control plane has those PIDs", file=sys.stderr)
            return
        complete = all(len(s.pids) == 1 for s in states)
        if complete:
            # A concurrent `up` we waited for, or a plane still settling: give it a moment.
            deadline = time.monotonic() + 20
            while True:
                states = self.survey(probe=True)
                if any(len(s.pids) != 1 for s in states) or not any(s.health for s in states):
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            if all(len(s.pids) == 1 and not s.health for s in states):
                self._record_pids(states)
                summary = ", ".join(f"{s.component} (pid {s.pids[0]})" for s in states)
                raise AlreadyRunning(f"control plane in {self.state_dir} is already running: {summary}; "
                                     "nothing started")
        details = "; ".join(f"{s.component} {s.describe()}" for s in states)
        raise PartlyRunning(
            f"control plane in {self.state_dir} is only partly running or unhealthy: {details}. "
            "Nothing was started; run `make cluster-down` (stops what is left), then `make cluster-up`")

    def _record_pids(self, states: list[ComponentState]) -> None:
        """Re-write PID files that are missing or wrong for processes found running."""
        for state in states:
            if len(state.pids) == 1 and state.recorded != state.pids[0]:
                self.pid_file(state.component).parent.mkdir(parents=True, exist_ok=True)
                self.pid_file(state.component).write_text(f"{state.pids[0]}\n")
                print(f"controlplane: re-recorded {self.pid_file(state.component)} (pid {state.pids[0]})",
                      file=sys.stderr)

    def _start_fresh(self) -> dict[str, float]:
        self._reset_state()
        endpoints = self._pick_endpoints()
        self.endpoints_file.write_text(json.dumps(asdict(endpoints), indent=2))
        self._write_config(endpoints)
        timings: dict[str, float] = {}
        try:
            for component in self.components:
                started = time.monotonic()
                self._check_ports(component, endpoints)
                argv = self._command(component, self._args(component, endpoints))
                try:
                    process = self._spawn(component, argv)
                except OSError as error:
                    raise ControlPlaneError(f"cannot start {component} ({argv[0]}): {error}") from error
                self._children[component] = process
                self._wait_ready(component, endpoints)
                timings[component] = round(time.monotonic() - started, 2)
        except BaseException:
            report = self._down()
            stopped = ", ".join(f"{c} (pid {pid})" for c, pid, _ in report.stopped) or "nothing was running yet"
            print(f"controlplane: start-up failed; stopped what it had started: {stopped}", file=sys.stderr)
            raise
        timings["total"] = round(sum(timings.values()), 2)
        self.timings_file.write_text(json.dumps(timings, indent=2))
        return timings

    def _reset_state(self) -> None:
        # Only ever called under the lock with nothing of ours running (checked by the caller).
        for sub in ("etcd-data", "pki", "logs", "pids"):
            path = self.state_dir / sub
            if path.exists():
                subprocess.run(["rm", "-rf", "--", str(path)], check=True)
        for sub in ("logs", "pids"):
            (self.state_dir / sub).mkdir(parents=True)
        (self.state_dir / "etcd-data").mkdir(mode=0o700)

    def _pick_endpoints(self) -> Endpoints:
        return _pick_endpoints()

    def _write_config(self, endpoints: Endpoints) -> None:
        """Certificates and kubeconfigs the components read (before the first spawn)."""
        pki = pki_module.create_pki(self.pki.directory, self._pki_clients(), self._apiserver_ips())
        self.kubeconfig.write_text(
            _kubeconfig(endpoints.apiserver_url, pki.ca_cert, pki.client_cert("admin"),
                        pki.client_key("admin"), "admin")
        )
        self._kcm_kubeconfig.write_text(
            _kubeconfig(endpoints.apiserver_url, pki.ca_cert, pki.client_cert("kube-controller-manager"),
                        pki.client_key("kube-controller-manager"), "kube-controller-manager")
        )

    @property
    def _kcm_kubeconfig(self) -> Path:
        return self.state_dir / "kube-controller-manager.kubeconfig"

    def _ports(self, component: str, e: Endpoints) -> dict[str, int]:
        return {
            "etcd": {"client port": e.etcd_client_port, "peer port": e.etcd_peer_port},
            "kube-apiserver": {"secure port": e.apiserver_port},
            "kube-controller-manager": {"secure port": e.controller_manager_port},
        }.get(component, {})

    def _check_ports(self, component: str, endpoints: Endpoints) -> None:
        for purpose, port in self._ports(component, endpoints).items():
            if not _port_free(port):
                holder = listener_of(port)
                by = f"pid {holder.pid} ({_short(holder.argv)})" if holder else "a process this user cannot see"
                raise PortInUse(f"port {port} picked as the {component} {purpose} is in use by {by}")

    def _pki_clients(self) -> dict[str, tuple[str, str | None]]:
        """Client certificates to issue: file name -> (user, group). Subclasses add their own."""
        return {
            # group system:masters: full rights, like kubeadm's admin.conf
            "admin": ("kubernetes-admin", "system:masters"),
            # the user name the RBAC bootstrap policy grants the controller manager
            "kube-controller-manager": ("system:kube-controller-manager", None),
        }

    def _apiserver_ips(self) -> tuple[str, ...]:
        """Addresses besides 127.0.0.1 that the API server's certificate must name."""
        return ()

    def _args(self, component: str, endpoints: Endpoints) -> list[str]:
        builders = {
            "etcd": self._etcd_args,
            "kube-apiserver": self._apiserver_args,
            "kube-controller-manager": self._controller_manager_args,
        }
        if component not in builders:
            raise ControlPlaneError(f"no arguments defined for component {component!r}")
        return builders[component](endpoints)

    def _binary(self, component: str) -> Path:
        """The executable of `component` (checked to exist before anything starts)."""
        return self.tools_bin / component

    def _command(self, component: str, args: list[str]) -> list[str]:
        """The argv that starts `component`. It must reference the state dir (the flags do)."""
        return [str(self._binary(component)), *args]

    def _environment(self, component: str) -> dict[str, str]:
        return {**os.environ, STATE_ENV: str(self.state_dir), COMPONENT_ENV: component}

    def _etcd_args(self, e: Endpoints) -> list[str]:
        peer = f"http://127.0.0.1:{e.etcd_peer_port}"
        return [
            "--name=controlplane-e2e",
            f"--data-dir={self.state_dir / 'etcd-data'}",
            f"--listen-client-urls={e.etcd_url}",
            f"--advertise-client-urls={e.etcd_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=controlplane-e2e={peer}",
            # Throw-away data on a shared CI disk: durability is worthless here, fsync latency is not.
            "--unsafe-no-fsync=true",
            "--log-level=info",
        ]

    def _apiserver_args(self, e: Endpoints) -> list[str]:
        p = self.pki
        return [
            f"--etcd-servers={e.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={e.apiserver_port}",
            f"--cert-dir={self.state_dir / 'pki'}",
            f"--tls-cert-file={p.apiserver_cert}",
            f"--tls-private-key-file={p.apiserver_key}",
            f"--client-ca-file={p.ca_cert}",
            f"--service-account-key-file={p.service_account_pub}",
            f"--service-account-signing-key-file={p.service_account_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={pki_module.SERVICE_CIDR}",
            # What the contract requires of the real clusters; admission stays at the defaults.
            "--authorization-mode=Node,RBAC",
            # The `kubernetes` Service endpoint would be 127.0.0.1, which Endpoints validation
            # rejects (loopback); without a kubelet nothing would use it anyway.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ]

    def _controller_manager_args(self, e: Endpoints) -> list[str]:
        p = self.pki
        kubeconfig = self._kcm_kubeconfig
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={e.controller_manager_port}",
            f"--cert-dir={self.state_dir / 'pki' / 'kube-controller-manager'}",
            # Each controller acts as its own service account (as kubeadm runs it), so RBAC is real.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={p.service_account_key}",
            f"--root-ca-file={p.ca_cert}",
            f"--cluster-signing-cert-file={p.ca_cert}",
            f"--cluster-signing-key-file={p.ca_key}",
            f"--service-cluster-ip-range={pki_module.SERVICE_CIDR}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]

    def _spawn(self, component: str, argv: list[str]) -> subprocess.Popen:
        """Start one component detached from the caller; write its PID file; return the Popen."""
        with open(self.log_file(component), "ab") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                env=self._environment(component),
                # Own session: survives the `make cluster-up` shell, and Ctrl-C in it does not hit it.
                start_new_session=True,
            )
        self.pid_file(component).write_text(f"{process.pid}\n")
        return process

    def _admin_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.client_cert("admin")), str(self.pki.client_key("admin")))
        return context

    @staticmethod
    def _insecure_tls() -> ssl.SSLContext:
        # The controller manager serves a self-signed certificate; only its health is read here.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def _health_url(self, component: str, e: Endpoints) -> tuple[str, ssl.SSLContext | None]:
        if component == "etcd":
            return f"{e.etcd_url}/health", None
        if component == "kube-apiserver":
            return f"{e.apiserver_url}/readyz", self._admin_tls()
        if component == "kube-controller-manager":
            return f"https://127.0.0.1:{e.controller_manager_port}/healthz", self._insecure_tls()
        raise ControlPlaneError(f"no health check defined for component {component!r}")

    def _probe(self, component: str, endpoints: Endpoints) -> str | None:
        """None when `component` answers its health check, else what went wrong."""
        try:
            url, context = self._health_url(component, endpoints)
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                return None if response.status == 200 else f"{url}: HTTP {response.status}"
        except urllib.error.HTTPError as error:
            return f"{error.url}: HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            return f"{component} health check: {getattr(error, 'reason', error)}"

    def _child_exit(self, component: str) -> str | None:
        """How the `component` process this object spawned ended; None while it runs."""
        process = self._children.get(component)
        if process is None:
            return None
        code = process.poll()
        if code is None:
            return None
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"

    def _wait_ready(self, component: str, endpoints: Endpoints) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last_error = "no answer yet"
        started = self.components[: self.components.index(component) + 1]
        while time.monotonic() < deadline:
            # Any component started so far may die (e.g. etcd under the API server): name it.
            for earlier in started:
                ended = self._child_exit(earlier)
                if ended is not None:
                    during = "" if earlier == component else f" of {component}"
                    tail = self.log_tail(earlier)
                    # A port taken between picking it and the bind: worth the one retry of `up`.
                    error_class = PortInUse if "address already in use" in tail else ControlPlaneError
                    raise error_class(
                        f"{earlier} exited during start-up{during} ({ended}); last lines of "
                        f"{self.log_file(earlier)}:\n{tail}"
                    )
            problem = self._probe(component, endpoints)
            if problem is None:
                return
            last_error = problem
            time.sleep(0.5)
        raise ControlPlaneError(
            f"{component} not ready after {READY_TIMEOUT_SECONDS}s ({last_error}); "
            f"last lines of {self.log_file(component)}:\n{self.log_tail(component)}"
        )

    def log_tail(self, component: str, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file(component).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # --- stop ------------------------------------------------------------------------------
    def down(self) -> StopReport:
        """Stop every process of this plane (TERM, wait, then KILL), found by command line and
        environment, not only by PID file; remove the PID files. Idempotent."""
        with self._locked("cluster-down"):
            return self._down()

    def _down(self) -> StopReport:
        report = StopReport()
        # A process spawned an instant before (a failed `up` stopping what it started) may not be
        # visible in /proc yet on a loaded machine: look again until a look finds nothing new.
        for attempt in range(3):
            states = self.survey(probe=False)
            if attempt and not any(state.pids for state in states):
                break
            for state in reversed(states):
                for pid in state.pids:
                    note = "" if state.recorded == pid else "no PID file" if state.recorded is None \
                        else f"its PID file named pid {state.recorded}"
                    self._stop(state.component, pid)
                    report.stopped.append((state.component, pid, note))
                if state.exited and attempt == 0:
                    report.already_exited.append((state.component, state.recorded))
                self.pid_file(state.component).unlink(missing_ok=True)
        leftovers = self.processes()
        if leftovers:
            raise ControlPlaneError(f"still running after stop: {leftovers}")
        return report

    def _wait_exit(self, pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            child = next((p for p in self._children.values() if p.pid == pid), None)
            if child is not None:
                if child.poll() is not None:
                    return True
            elif not _process_alive(pid):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def _stop(self, component: str, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self._wait_exit(pid, STOP_GRACE_SECONDS):
            return
        print(f"controlplane: {component} (pid {pid}) ignored SIGTERM for {STOP_GRACE_SECONDS}s; killing",
              file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not self._wait_exit(pid, 10):
            raise ControlPlaneError(f"{component} (pid {pid}) survived SIGKILL")

    # --- CLI output ------------------------------------------------------------------------
    def describe_ready(self, timings: dict[str, float]) -> list[str]:
        per_component = ", ".join(f"{c} {timings[c]}s" for c in self.components if c in timings)
        return [
            f"control plane ready in {timings['total']}s ({per_component})",
            f"  API server: {self.endpoints().apiserver_url}",
            f"  kubeconfig: {self.kubeconfig}",
            "  no kubelet, no scheduler: objects are stored and reconciled, pods never run",
        ]


@contextlib.contextmanager
def _signals_raise(signums: Sequence[int]) -> Iterator[None]:
    """Turn the first of these signals into Interrupted (so `up` cleans up); ignore repeats."""
    def handler(signum, _frame):
        for s in signums:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def main(argv: list[str] | None = None, plane_class: type[ControlPlane] = ControlPlane) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.controlplane.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    plane = plane_class(args.state_dir)
    try:
        if args.command == "up":
            try:
                with _signals_raise((signal.SIGTERM, signal.SIGHUP, signal.SIGINT)):
                    timings = plane.up()
            except AlreadyRunning as running:
                print(running)
                with contextlib.suppress(OSError, ValueError, TypeError):
                    print(f"  API server: {plane.endpoints().apiserver_url}")
                print(f"  kubeconfig: {plane.kubeconfig}")
                return 0
            for line in plane.describe_ready(timings):
                print(line)
        elif args.command == "down":
            print(plane.down().message())
        else:
            states = plane.survey()
            for state in states:
                print(f"{state.component}: {state.describe()}")
            if all(len(s.pids) == 1 and not s.health for s in states):
                print(f"control plane in {plane.state_dir}: running and healthy")
                return 0
            if not any(s.running for s in states):
                print(f"control plane in {plane.state_dir}: not running")
                return 3
            print(f"control plane in {plane.state_dir}: degraded; `make cluster-down` stops what is left")
            return 1
    except Interrupted as error:
        print(f"controlplane: {error}; stopped what had been started", file=sys.stderr)
        return 128 + error.signum
    except ControlPlaneError as error:
        print(f"controlplane: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
