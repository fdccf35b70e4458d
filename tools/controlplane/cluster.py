"""Start and stop a real, local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager.

Everything listens on 127.0.0.1 only, on free high ports picked at start. State (certificates,
etcd data, logs, PID files, kubeconfig) lives in one directory, by default .run/controlplane/.
There is no kubelet and no scheduler: objects are stored, validated, defaulted, admitted and
reconciled by controllers, but pods never run.

CLI (what `make cluster-up` / `make cluster-down` call):
    python -m tools.controlplane.cluster up|down|status [--state-dir DIR]
"""

from __future__ import annotations

import argparse
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
from dataclasses import asdict, dataclass
from pathlib import Path

from tools.controlplane import pki as pki_module

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools")) / "bin"
DEFAULT_STATE_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run")) / "controlplane"
# Stop order: consumers first, storage last.
COMPONENTS = ("kube-controller-manager", "kube-apiserver", "etcd")
STOP_GRACE_SECONDS = 30
READY_TIMEOUT_SECONDS = 180


class ControlPlaneError(RuntimeError):
    """A component failed to start or stop; the message names it and points at its log."""


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


def _pick_endpoints() -> Endpoints:
    ports: set[int] = set()
    while len(ports) < 4:
        ports.add(_free_port())
    return Endpoints(*sorted(ports))


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


def _process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (reaping it if it is our child)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: init reaps it
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    # Field 3 (after the parenthesised command name) is the state; Z = zombie, X = dead.
    return status.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class ControlPlane:
    """One control plane whose whole state lives in `state_dir`."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, tools_bin: Path = TOOLS_BIN):
        self.state_dir = Path(state_dir).resolve()
        self.tools_bin = Path(tools_bin)
        self.pki = pki_module.Pki(self.state_dir / "pki")

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

    def pid_file(self, component: str) -> Path:
        return self.state_dir / "pids" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    def endpoints(self) -> Endpoints:
        return Endpoints(**json.loads(self.endpoints_file.read_text()))

    # --- status ----------------------------------------------------------------------------
    def _own_pid(self, component: str) -> int | None:
        """The recorded PID, but only if that process is still the binary we started.

        Guards against PID reuse: a stale PID file must never make us signal a stranger.
        """
        try:
            pid = int(self.pid_file(component).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _process_alive(pid):
            return None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return None
        expected = str(self.tools_bin / component).encode()
        state_marker = str(self.state_dir).encode()
        if argv and argv[0] == expected and any(state_marker in arg for arg in argv):
            return pid
        return None

    def running(self) -> dict[str, int]:
        """Component name -> PID for every component of this control plane still running."""
        return {c: pid for c in COMPONENTS if (pid := self._own_pid(c)) is not None}

    # --- start -----------------------------------------------------------------------------
    def up(self) -> dict[str, float]:
        """Start all components from a clean state; returns seconds to ready per component."""
        if self.running():
            raise ControlPlaneError(
                f"control plane in {self.state_dir} is already running ({self.running()}); "
                "run `make cluster-down` first"
            )
        for binary in COMPONENTS:
            if not (self.tools_bin / binary).is_file():
                raise ControlPlaneError(
                    f"{self.tools_bin / binary} not found; build it with `make controlplane-build`"
                )
        try:
            return self._start_fresh()
        except ControlPlaneError as error:
            # Free ports are picked before the components bind them; on a shared machine another
            # process can take one in between. That (and only that) is worth one more try.
            if "address already in use" not in str(error):
                raise
            print(f"controlplane: a picked port was taken meanwhile; retrying with new ports ({error})",
                  file=sys.stderr)
            return self._start_fresh()

    def _start_fresh(self) -> dict[str, float]:
        self._reset_state()
        endpoints = _pick_endpoints()
        self.endpoints_file.write_text(json.dumps(asdict(endpoints), indent=2))
        pki = pki_module.create_pki(self.pki.directory, self._pki_clients(), self._apiserver_ips())
        self.kubeconfig.write_text(
            _kubeconfig(endpoints.apiserver_url, pki.ca_cert, pki.client_cert("admin"),
                        pki.client_key("admin"), "admin")
        )
        kcm_kubeconfig = self.state_dir / "kube-controller-manager.kubeconfig"
        kcm_kubeconfig.write_text(
            _kubeconfig(endpoints.apiserver_url, pki.ca_cert, pki.client_cert("kube-controller-manager"),
                        pki.client_key("kube-controller-manager"), "kube-controller-manager")
        )

        timings: dict[str, float] = {}
        try:
            started = time.monotonic()
            self._spawn("etcd", self._etcd_args(endpoints))
            self._wait_ready("etcd", f"{endpoints.etcd_url}/health", ssl_context=None)
            timings["etcd"] = round(time.monotonic() - started, 2)

            started = time.monotonic()
            self._spawn("kube-apiserver", self._apiserver_args(endpoints))
            self._wait_ready("kube-apiserver", f"{endpoints.apiserver_url}/readyz", self._admin_tls())
            timings["kube-apiserver"] = round(time.monotonic() - started, 2)

            started = time.monotonic()
            self._spawn("kube-controller-manager", self._controller_manager_args(endpoints, kcm_kubeconfig))
            self._wait_ready(
                "kube-controller-manager",
                f"https://127.0.0.1:{endpoints.controller_manager_port}/healthz",
                self._insecure_tls(),
            )
            timings["kube-controller-manager"] = round(time.monotonic() - started, 2)
        except BaseException:
            self.down()
            raise
        timings["total"] = round(sum(timings.values()), 2)
        self.timings_file.write_text(json.dumps(timings, indent=2))
        return timings

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

    def _reset_state(self) -> None:
        for sub in ("etcd-data", "pki", "logs", "pids"):
            path = self.state_dir / sub
            if path.exists():
                subprocess.run(["rm", "-rf", "--", str(path)], check=True)
        for sub in ("logs", "pids"):
            (self.state_dir / sub).mkdir(parents=True)
        (self.state_dir / "etcd-data").mkdir(mode=0o700)

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

    def _controller_manager_args(self, e: Endpoints, kubeconfig: Path) -> list[str]:
        p = self.pki
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

    def _spawn(self, component: str, args: list[str]) -> None:
        with open(self.log_file(component), "ab") as log:
            process = subprocess.Popen(
                [str(self.tools_bin / component), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                # Own session: survives the `make cluster-up` shell, and Ctrl-C in it does not hit it.
                start_new_session=True,
            )
        self.pid_file(component).write_text(f"{process.pid}\n")

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

    def _wait_ready(self, component: str, url: str, ssl_context: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            # Any component started so far may die (e.g. etcd under the API server): name it.
            for started in COMPONENTS[COMPONENTS.index(component):]:
                if self.pid_file(started).exists() and self._own_pid(started) is None:
                    raise ControlPlaneError(
                        f"{started} exited during start-up of {component}; last lines of "
                        f"{self.log_file(started)}:\n{self.log_tail(started)}"
                    )
            try:
                with urllib.request.urlopen(url, timeout=5, context=ssl_context) as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.5)
        raise ControlPlaneError(
            f"{component} not ready at {url} after {READY_TIMEOUT_SECONDS}s ({last_error}); "
            f"last lines of {self.log_file(component)}:\n{self.log_tail(component)}"
        )

    def log_tail(self, component: str, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file(component).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # --- stop ------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every running component by PID (TERM, wait, then KILL); returns what was stopped."""
        stopped = []
        for component in COMPONENTS:
            pid = self._own_pid(component)
            if pid is not None:
                self._stop(component, pid)
                stopped.append(component)
            self.pid_file(component).unlink(missing_ok=True)
        leftovers = self.running()
        if leftovers:
            raise ControlPlaneError(f"still running after stop: {leftovers}")
        return stopped

    @staticmethod
    def _wait_exit(pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not _process_alive(pid):
                return True
            time.sleep(0.2)
        return not _process_alive(pid)

    def _stop(self, component: str, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)
        if self._wait_exit(pid, STOP_GRACE_SECONDS):
            return
        print(f"controlplane: {component} (pid {pid}) ignored SIGTERM for {STOP_GRACE_SECONDS}s; killing",
              file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        if not self._wait_exit(pid, 10):
            raise ControlPlaneError(f"{component} (pid {pid}) survived SIGKILL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.controlplane.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    plane = ControlPlane(args.state_dir)
    try:
        if args.command == "up":
            timings = plane.up()
            print(f"control plane ready in {timings['total']}s "
                  f"(etcd {timings['etcd']}s, kube-apiserver {timings['kube-apiserver']}s, "
                  f"kube-controller-manager {timings['kube-controller-manager']}s)")
            print(f"  API server: {plane.endpoints().apiserver_url}")
            print(f"  kubeconfig: {plane.kubeconfig}")
            print("  no kubelet, no scheduler: objects are stored and reconciled, pods never run")
        elif args.command == "down":
            stopped = plane.down()
            print(f"control plane stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        else:
            running = plane.running()
            for component in COMPONENTS:
                state = f"running (pid {running[component]})" if component in running else "stopped"
                print(f"{component}: {state}")
            return 0 if len(running) == len(COMPONENTS) else 3
    except ControlPlaneError as error:
        print(f"controlplane: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
