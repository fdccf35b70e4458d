"""A real one-node Kubernetes on this machine, from real parts only.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy are built
from the pinned `k8s.io/kubernetes` module (tools/controlplane); containerd, runc and the CNI
plugins come from Debian's packages. Everything runs inside one network namespace that `up`
creates (the node); pods get their own namespaces on a bridge inside it. The host reaches the API
server and the registry only through loopback forwarders (tools/k8s/forward.py), so no traffic
ever leaves this machine or targets an address we did not create.

    python -m tools.k8s up|down|status|registry-up [--state-dir DIR]
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tools.controlplane import pki as pki_module
from tools.controlplane.cluster import AlreadyRunning, ControlPlane, ControlPlaneError, _kubeconfig, _process_alive
from tools.k8s import configs, procs
from tools.k8s import layout as L

NODE_COMPONENTS = ("kube-scheduler", "containerd", "kubelet", "kube-proxy")
DEBIAN_COMMANDS = {
    "containerd": "containerd", "runc": "runc", "/usr/lib/cni/bridge": "containernetworking-plugins",
    "iptables": "iptables", "nsenter": "util-linux", "ip": "iproute2", "buildah": "buildah",
    "mmdebstrap": "mmdebstrap", "conntrack": "conntrack",
}
READY_TIMEOUT = 240


class ClusterError(RuntimeError):
    """What went wrong, naming the component and its log."""


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _sh(*argv: str, check: bool = True, netns: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    command = (["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []) + list(argv)
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class NodeControlPlane(ControlPlane):
    """The control plane of tools/controlplane, started inside the node's network namespace.

    The API server listens on every address of the namespace and advertises the node's address,
    so pods reach it through the `kubernetes` Service; each port is forwarded to the host's
    loopback under the same number, so one kubeconfig works on both sides.
    """

    def __init__(self, lay: L.Layout):
        super().__init__(lay.controlplane_dir)
        self.layout = lay

    def _pki_clients(self) -> dict[str, tuple[str, str | None]]:
        return {
            **super()._pki_clients(),
            # The Node authorizer and the bootstrap RBAC know these users and groups.
            "kubelet": (f"system:node:{L.NODE_NAME}", "system:nodes"),
            "kube-scheduler": ("system:kube-scheduler", None),
            "kube-proxy": ("system:kube-proxy", None),
            # The API server's identity towards aggregated APIs (metrics-server).
            "front-proxy-client": ("front-proxy-client", None),
        }

    def _apiserver_ips(self) -> tuple[str, ...]:
        return (L.NODE_IP,)

    def _apiserver_args(self, e) -> list[str]:
        args = [a for a in super()._apiserver_args(e)
                if not a.startswith(("--bind-address=", "--advertise-address=", "--endpoint-reconciler-type="))]
        return [
            *args,
            "--bind-address=0.0.0.0",  # every address of the node namespace, none of the host's
            f"--advertise-address={L.NODE_IP}",
            # Privileged pods must be refused by Pod Security admission per namespace, not globally.
            "--allow-privileged=true",
            f"--kubelet-certificate-authority={self.pki.ca_cert}",
            f"--kubelet-client-certificate={self.pki.client_cert('admin')}",
            f"--kubelet-client-key={self.pki.client_key('admin')}",
            # The node's name resolves nowhere (no resolver outside the cluster): use its address.
            "--kubelet-preferred-address-types=InternalIP",
            # API aggregation (metrics.k8s.io): who may assert a user to an aggregated API server.
            f"--requestheader-client-ca-file={self.pki.ca_cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={self.pki.client_cert('front-proxy-client')}",
            f"--proxy-client-key-file={self.pki.client_key('front-proxy-client')}",
            "--enable-aggregator-routing=true",
        ]

    def _command(self, component: str, args: list[str]) -> list[str]:
        # nsenter enters only the network namespace, then execs: the PID and the environment
        # markers the plane finds its processes by are the component's own.
        return ["nsenter", f"--net=/run/netns/{self.layout.netns}", "--", *super()._command(component, args)]

    def _spawn(self, component: str, argv: list[str]) -> subprocess.Popen:
        # Only the API server is reachable from the host (it authenticates every client); etcd and
        # the controller manager stay inside the namespace, where their health is probed.
        if component == "kube-apiserver":
            start_forwarder(self.layout, self.endpoints().apiserver_port)
        return super()._spawn(component, argv)

    def _probe(self, component: str, endpoints) -> str | None:
        return procs.in_netns(self.layout.netns, lambda: ControlPlane._probe(self, component, endpoints))


def start_forwarder(lay: L.Layout, port: int, target_port: int | None = None, target_host: str = "127.0.0.1") -> None:
    """Forward host 127.0.0.1:port into the namespace; returns once it accepts connections."""
    target = target_port or port
    argv = [sys.executable, "-m", "tools.k8s.forward", "--netns", lay.netns, "--port", str(port),
            "--target-port", str(target), "--target-host", target_host, "--tag", str(lay.state_dir.resolve())]
    pid = procs.spawn(argv, lay.logs / f"forward-{port}.log", lay.pids / f"forward-{port}.pid", None, L.ROOT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            raise ClusterError(f"forwarder for port {port} exited: {_log_tail(lay.logs / f'forward-{port}.log')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise ClusterError(f"forwarder for port {port} does not accept connections")


class LocalKubernetes:
    def __init__(self, lay: L.Layout | None = None):
        self.layout = lay or L.default_layout()
        self.layout.state_dir.mkdir(parents=True, exist_ok=True)
        self.control_plane = NodeControlPlane(self.layout)
        self.tools_bin = L.TOOLS_DIR / "bin"
        self.kubectl_bin = L.TOOLS_DIR / "controlplane" / "bin" / "kubectl"

    # --- checks ----------------------------------------------------------------------------
    def preflight(self) -> None:
        if os.geteuid() != 0:
            raise ClusterError("the local node needs root (network namespace, mounts, cgroups); run as root")
        missing = sorted({pkg for cmd, pkg in DEBIAN_COMMANDS.items()
                          if not (Path(cmd).exists() if cmd.startswith("/") else shutil.which(cmd))})
        if missing:
            raise ClusterError(f"missing Debian packages: {' '.join(missing)} (make k8s-deps installs them)")
        for binary in ("etcd", "kube-apiserver", "kube-controller-manager", *NODE_COMPONENTS[:1], "kubelet",
                       "kube-proxy"):
            if not (self.tools_bin / binary).is_file():
                raise ClusterError(f"{self.tools_bin / binary} not found; build it with `make controlplane-build`")

    def netns_exists(self) -> bool:
        return Path(f"/run/netns/{self.layout.netns}").exists()

    def leftovers(self) -> list[str]:
        """Everything of ours still on the machine: processes, mounts, the namespace, cgroups."""
        lay = self.layout
        left = [f"process {f}" for f in procs.find_ours(lay.state_dir)]
        left += [f"mount {m}" for m in procs.mounts_under(lay.state_dir)]
        if self.netns_exists():
            left.append(f"network namespace {lay.netns}")
        left += [f"cgroup {d}" for d in procs.cgroup_dirs(lay.cgroup_root)]
        return left

    # --- the kubectl the tests and users run ------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.kubectl_bin), f"--kubeconfig={self.layout.kubeconfig}", *args],
                                capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def healthy(self) -> bool:
        if not self.layout.kubeconfig.exists() or len(self.control_plane.running()) != 3:
            return False
        names = {f.name for f in procs.find_ours(self.layout.state_dir)}
        if not set(NODE_COMPONENTS) <= names or "registry" not in names:
            return False
        ready = self.kubectl("get", "node", L.NODE_NAME, "-o",
                             "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False, timeout=20)
        return ready.returncode == 0 and ready.stdout.strip() == "True"

    # --- the substrate: namespace + registry (also what `make images` needs) ----------------
    def substrate_up(self) -> int:
        """Create the node namespace and start the registry in it; returns the host port of the
        registry forwarder. Idempotent: an already running registry is reused."""
        lay = self.layout
        lay.pids.mkdir(parents=True, exist_ok=True)
        lay.logs.mkdir(parents=True, exist_ok=True)
        if not self.netns_exists():
            self._create_netns()
        status = self._status()
        running = {f.name for f in procs.find_ours(lay.state_dir)}
        if "registry" not in running:
            lay.registry_storage.mkdir(parents=True, exist_ok=True)
            config = lay.config_dir / "registry.yml"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(configs.registry_config(lay))
            registry = self.tools_bin / "registry"
            if not registry.is_file():
                raise ClusterError(f"{registry} not found; build it with `make jenkins-tools`")
            procs.spawn([str(registry), "serve", str(config)], lay.logs / "registry.log",
                        lay.pids / "registry.pid", lay.netns, lay.state_dir)
        port = status.get("registry_host_port")
        if not port or "forwarder" not in running or not self._port_answers(port):
            port = _free_port()
            start_forwarder(lay, port, L.REGISTRY_PORT)
            self._save_status(registry_host_port=port)
        self._wait(lambda: self._http_ok(f"http://127.0.0.1:{port}/v2/"), "registry", lay.logs / "registry.log", 30)
        return port

    def _create_netns(self) -> None:
        ns = self.layout.netns
        _sh("ip", "netns", "add", ns)
        _sh("ip", "link", "set", "lo", "up", netns=ns)
        # The node address sits on the namespace's loopback device (this machine's kernel has no
        # `dummy` link type); it is still a non-loopback address, as the kubelet requires.
        _sh("ip", "addr", "add", f"{L.NODE_IP}/32", "dev", "lo", netns=ns)
        # The node's own processes (our forwarders, the platform's servers) reach Services by their
        # cluster IPs like pods do: kube-proxy's OUTPUT rules rewrite them, once a route exists.
        _sh("ip", "route", "add", L.SERVICE_SUBNET, "dev", "lo", "src", L.NODE_IP, netns=ns)
        # Forward between the pod bridge and the node; bridged pod traffic through iptables.
        for key, value in (("net.ipv4.ip_forward", "1"), ("net.bridge.bridge-nf-call-iptables", "1"),
                           ("net.ipv4.conf.all.route_localnet", "1")):
            _sh("sysctl", "-qw", f"{key}={value}", netns=ns, check=key != "net.bridge.bridge-nf-call-iptables")

    # --- up ---------------------------------------------------------------------------------
    def up(self, images: dict[str, str]) -> dict[str, float]:
        """Start everything; `images` maps node image names (pause, coredns, ...) to ref@digest."""
        self.preflight()
        lay = self.layout
        if self.healthy():
            print(f"k8s: already running (kubeconfig {lay.kubeconfig})")
            return self._status().get("timings", {})
        # A running registry alone (left by `make images`) is reused, not cleaned up.
        substrate = ("process registry", "process forwarder", f"network namespace {lay.netns}")
        left = [item for item in self.leftovers() if not item.startswith(substrate)]
        if left:
            print(f"k8s: cleaning up after an earlier run that did not stop: {', '.join(left[:6])}"
                  f"{' ...' if len(left) > 6 else ''}")
            self.down(quiet=True)
        timings: dict[str, float] = {}
        started = time.monotonic()
        try:
            self._reset_state()  # removing the last run's container layers takes a while
            timings["reset state"] = round(time.monotonic() - started, 2)
            phase = time.monotonic()
            self.substrate_up()
            timings["netns+registry"] = round(time.monotonic() - phase, 2)
            phase = time.monotonic()
            try:
                plane = self.control_plane.up()
            except AlreadyRunning:  # cannot happen after the clean-up above; kept honest
                raise ClusterError("the control plane was already running after clean-up") from None
            timings["control plane"] = round(time.monotonic() - phase, 2)
            shutil.copy(self.control_plane.kubeconfig, lay.kubeconfig)
            self._write_node_files(images["pause"])
            phase = time.monotonic()
            self._start_scheduler()
            self._start_containerd()
            self._start_kubelet()
            self._start_kube_proxy()
            self._wait_node_ready()
            timings["node Ready"] = round(time.monotonic() - phase, 2)
            phase = time.monotonic()
            self.apply_addons(self.render_addons(images))
            timings["add-ons ready"] = round(time.monotonic() - phase, 2)
        except BaseException:
            print(f"k8s: start-up failed; logs are in {lay.logs} and {self.control_plane.state_dir / 'logs'}",
                  file=sys.stderr)
            self.down(quiet=True)
            raise
        timings["total"] = round(time.monotonic() - started, 2)
        timings.update({f"control plane: {k}": v for k, v in plane.items() if k != "total"})
        self._save_status(timings=timings, kubeconfig=str(lay.kubeconfig))
        return timings

    def _reset_state(self) -> None:
        lay = self.layout
        for sub in ("containerd", "kubelet", "pod-logs", "cni", "config", "logs", "pids", "volumes", "node-pki"):
            path = lay.state_dir / sub
            if path.exists():
                subprocess.run(["rm", "-rf", "--", str(path)], check=True)
        for path in (lay.logs, lay.pids, lay.config_dir, lay.cni_conf_dir, lay.cni_ipam_dir, lay.pod_logs,
                     lay.local_volumes):
            path.mkdir(parents=True, exist_ok=True)
        lay.status_file.unlink(missing_ok=True)

    def _write_node_files(self, sandbox_image: str) -> None:
        lay = self.layout
        pki = self.control_plane.pki
        server = self.control_plane.endpoints().apiserver_url
        for user in ("kubelet", "kube-scheduler", "kube-proxy"):
            (lay.config_dir / f"{user}.kubeconfig").write_text(
                _kubeconfig(server, pki.ca_cert, pki.client_cert(user), pki.client_key(user), user))
        serving_cert, serving_key = pki_module.issue_serving_cert(
            pki, "kubelet-serving", (L.NODE_IP, "127.0.0.1"), (L.NODE_NAME, "localhost"))
        (lay.config_dir / "containerd.toml").write_text(configs.containerd_toml(lay, sandbox_image))
        # Our registry, and every upstream registry whose images the local platform builds stand-ins
        # for (tools/platform/images): all served by the local registry, nothing else is asked.
        for registry in (L.REGISTRY_HOST, *L.MIRRORED_REGISTRIES):
            hosts = lay.config_dir / "certs.d" / registry / "hosts.toml"
            hosts.parent.mkdir(parents=True, exist_ok=True)
            hosts.write_text(configs.registry_hosts_toml())
        (lay.cni_conf_dir / "10-mlops-pods.conflist").write_text(configs.cni_conflist(lay))
        (lay.config_dir / "resolv.conf").write_text("# no upstream resolvers: cluster DNS only\n")
        (lay.config_dir / "kubelet.json").write_text(
            configs.kubelet_config(lay, pki.ca_cert, serving_cert, serving_key))
        self._ports = {"scheduler": _free_port(), "proxy-healthz": _free_port(), "proxy-metrics": _free_port()}
        (lay.config_dir / "kube-proxy.json").write_text(configs.kube_proxy_config(
            lay, lay.config_dir / "kube-proxy.kubeconfig", self._ports["proxy-healthz"], self._ports["proxy-metrics"]))
        self._save_status(ports=self._ports)

    def _start(self, name: str, argv: list[str]) -> int:
        lay = self.layout
        return procs.spawn(argv, lay.logs / f"{name}.log", lay.pids / f"{name}.pid", lay.netns, lay.state_dir)

    def _start_scheduler(self) -> None:
        kubeconfig = self.layout.config_dir / "kube-scheduler.kubeconfig"
        port = self._ports["scheduler"]
        self._start("kube-scheduler", [
            str(self.tools_bin / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", "--leader-elect=false", "--v=1",
        ])
        self._wait(lambda: self._netns_http_ok(f"https://127.0.0.1:{port}/healthz"), "kube-scheduler")

    def _start_containerd(self) -> None:
        lay = self.layout
        self._start("containerd", ["containerd", "--config", str(lay.config_dir / "containerd.toml")])
        self._wait(lambda: _sh("ctr", "--address", str(lay.containerd_socket), "version", check=False,
                               timeout=10).returncode == 0, "containerd")

    def _start_kubelet(self) -> None:
        lay = self.layout
        self._prepare_cgroup_root()
        self._start("kubelet", [
            str(self.tools_bin / "kubelet"), f"--config={lay.config_dir / 'kubelet.json'}",
            f"--kubeconfig={lay.config_dir / 'kubelet.kubeconfig'}", f"--hostname-override={L.NODE_NAME}",
            f"--node-ip={L.NODE_IP}", f"--root-dir={lay.kubelet_root}",
            f"--cert-dir={lay.state_dir / 'node-pki'}", "--v=1",
        ])
        self._wait(lambda: self._netns_http_ok("http://127.0.0.1:10248/healthz"), "kubelet")

    def _prepare_cgroup_root(self) -> None:
        """kubelet refuses a cgroupRoot that does not exist; cpuset needs its CPUs and nodes set."""
        name = self.layout.cgroup_root.lstrip("/")
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            if not hierarchy.is_dir() or hierarchy.name == "unified" or not (hierarchy / "cgroup.procs").exists():
                continue
            target = hierarchy / name
            target.mkdir(exist_ok=True)
            if hierarchy.name == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    (target / knob).write_text((hierarchy / knob).read_text())

    def _start_kube_proxy(self) -> None:
        lay = self.layout
        self._start("kube-proxy", [str(self.tools_bin / "kube-proxy"), f"--config={lay.config_dir / 'kube-proxy.json'}",
                                   "--v=1"])
        port = self._ports["proxy-healthz"]
        self._wait(lambda: self._netns_http_ok(f"http://127.0.0.1:{port}/healthz"), "kube-proxy")

    def _wait_node_ready(self) -> None:
        def ready() -> bool:
            result = self.kubectl("get", "node", L.NODE_NAME, "-o",
                                  "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
            return result.stdout.strip() == "True"

        self._wait(ready, "kubelet", what="node Ready")

    def render_addons(self, images: dict[str, str]) -> list[Path]:
        """tools/k8s/addons/*.yaml with this cluster's images (by digest), CA and volume folder."""
        from string import Template

        ca = self.control_plane.pki.ca_cert.read_text()
        values = {
            "CLUSTER_DNS_IP": L.CLUSTER_DNS_IP,
            "LOCAL_VOLUMES_DIR": str(self.layout.local_volumes),
            **{f"IMAGE_{name.upper().replace('-', '_')}": ref for name, ref in images.items()},
        }
        out_dir = self.layout.state_dir / "addons"
        out_dir.mkdir(parents=True, exist_ok=True)
        # The CA this start-up made, for metrics-server to verify the kubelet's serving certificate.
        kubelet_ca = out_dir / "00-kubelet-ca.json"
        kubelet_ca.write_text(json.dumps({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "metrics-server-kubelet-ca", "namespace": "kube-system"},
            "data": {"ca.crt": ca},
        }))
        rendered = [kubelet_ca]
        for source in sorted((L.ROOT / "tools" / "k8s" / "addons").glob("*.yaml")):
            target = out_dir / source.name
            try:
                target.write_text(Template(source.read_text()).substitute(values))
            except KeyError as error:
                raise ClusterError(f"{source}: no value for ${{{error.args[0]}}} (is its image built?)") from None
            except ValueError as error:
                raise ClusterError(f"{source}: {error} (write a literal dollar sign as $$)") from None
            rendered.append(target)
        return rendered

    def apply_addons(self, manifests: list[Path]) -> None:
        for manifest in manifests:
            self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
        for manifest in manifests:
            listed = json.loads(self.kubectl("get", "-f", str(manifest), "-o", "json").stdout)
            for item in listed.get("items", [listed]):  # a one-object file comes back unlisted
                if item["kind"] not in ("Deployment", "DaemonSet", "StatefulSet"):
                    continue
                ref = f"{item['kind'].lower()}/{item['metadata']['name']}"
                namespace = item["metadata"]["namespace"]
                result = self.kubectl("-n", namespace, "rollout", "status", ref, "--timeout=180s",
                                      check=False, timeout=200)
                if result.returncode != 0:
                    pods = self.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
                    events = self.kubectl("-n", namespace, "get", "events", "--sort-by=.lastTimestamp",
                                          check=False).stdout
                    raise ClusterError(f"add-on {namespace}/{ref} from {manifest} not ready: "
                                       f"{result.stderr.strip()}\n{pods}\n{events[-3000:]}")

    # --- waiting helpers -----------------------------------------------------------------------
    def _wait(self, check, component: str, log: Path | None = None, timeout: float = READY_TIMEOUT,
              what: str = "ready") -> None:
        log = log or self.layout.logs / f"{component}.log"
        pid_file = self.layout.pids / f"{component}.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid_file.exists():
                pid = int(pid_file.read_text())
                if not _process_alive(pid):
                    raise ClusterError(f"{component} exited during start-up; last lines of {log}:\n{_log_tail(log)}")
            try:
                if check():
                    return
            except Exception:  # not answering yet
                pass
            time.sleep(0.5)
        raise ClusterError(f"{component} not {what} after {timeout:.0f}s; last lines of {log}:\n{_log_tail(log)}")

    def _netns_http_ok(self, url: str) -> bool:
        return procs.in_netns(self.layout.netns, lambda: self._http_ok(url))

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=3, context=_insecure()) as response:
                return response.status == 200
        except OSError:
            return False

    @staticmethod
    def _port_answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def _status(self) -> dict:
        try:
            return json.loads(self.layout.status_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _save_status(self, **values) -> None:
        status = {**self._status(), **values}
        self.layout.status_file.parent.mkdir(parents=True, exist_ok=True)
        self.layout.status_file.write_text(json.dumps(status, indent=2))

    def registry_port(self) -> int | None:
        return self._status().get("registry_host_port")

    # --- down -----------------------------------------------------------------------------------
    def down(self, quiet: bool = False) -> list[str]:
        """Stop everything and remove what it left; raises if anything of ours survives."""
        lay = self.layout
        stopped: list[str] = []
        ours = {f.name: f for f in procs.find_ours(lay.state_dir)}
        # The kubelet first, so it restarts nothing; then the pods themselves (by cgroup).
        for name in ("kubelet", "kube-proxy", "kube-scheduler"):
            if name in ours:
                procs.stop(ours[name].pid)
                stopped.append(name)
        killed = procs.kill_cgroup_tree(lay.cgroup_root)
        if killed:
            stopped.append(f"{killed} pod processes")
        for found in procs.find_ours(lay.state_dir):
            if found.name == "containerd":
                procs.stop(found.pid)
                stopped.append("containerd")
        for found in procs.find_ours(lay.state_dir):
            if found.name == "containerd-shim-runc-v2":
                procs.stop(found.pid, grace=5)
        try:
            stopped += self.control_plane.down().components
        except ControlPlaneError as error:
            print(f"k8s: {error}", file=sys.stderr)
        for found in procs.find_ours(lay.state_dir):
            procs.stop(found.pid, grace=10)
            stopped.append(found.name)
        stuck = procs.unmount_all(lay.state_dir)
        if self.netns_exists():
            _sh("ip", "netns", "delete", lay.netns, check=False)
        cgroups = procs.remove_cgroups(lay.cgroup_root)
        for pid_file in lay.pids.glob("*.pid") if lay.pids.exists() else []:
            pid_file.unlink()
        # A running registry alone (left by `make images`) is reused, not cleaned up.
        substrate = ("process registry", "process forwarder", f"network namespace {lay.netns}")
        left = [item for item in self.leftovers() if not item.startswith(substrate)]
        if left:
            raise ClusterError(f"still present after stop: {', '.join(left)}"
                               + (f" (busy mounts: {stuck})" if stuck else "")
                               + (f" (busy cgroups: {cgroups[:3]})" if cgroups else ""))
        lay.status_file.unlink(missing_ok=True)
        if not quiet:
            print(f"k8s: stopped {', '.join(dict.fromkeys(stopped)) if stopped else 'nothing (was not running)'}; "
                  "no process, mount, network namespace or cgroup of ours is left")
        return stopped


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
