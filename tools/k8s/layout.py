"""Where the one-node cluster keeps its state, its caches and its network, in one place.

Run state (certificates, configs, container state, logs, PID files) lives under `.run/k8s/` and
is removed by `k8s-down`. Caches that must survive a fresh clone (the registry's blobs, buildah's
layer store, built base images) live under `$MLOPS_CACHE_DIR` (default `~/.cache/mlops-platform`),
like Go's build cache.

Network: every address below exists only inside the network namespace that `k8s-up` creates
(named after the state directory, so two clones on one machine never share one). The host side
sees nothing but loopback forwarders to the API server and the registry.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
TOOLS_DIR = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools"))
CACHE_DIR = Path(os.environ.get("MLOPS_CACHE_DIR", Path.home() / ".cache" / "mlops-platform"))

NODE_NAME = "mlops-node"
# The node's own address (on the node namespace's loopback device): kubelet, the API server's
# advertised endpoint and NodePorts live here. Never a loopback address: logs/exec need a real one.
NODE_IP = "10.80.0.10"
POD_SUBNET = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
POD_BRIDGE = "cni0"
CLUSTER_DNS_IP = "10.96.0.10"
SERVICE_SUBNET = "10.96.0.0/16"  # the API server's --service-cluster-ip-range (tools/controlplane/pki.py)
CLUSTER_DOMAIN = "cluster.local"
# Inside the namespace the registry has a fixed address, so image references are stable:
# containerd pulls 127.0.0.1:5000/... on the namespace's own loopback.
REGISTRY_PORT = 5000
REGISTRY_HOST = f"127.0.0.1:{REGISTRY_PORT}"
IMAGE_REPOSITORY = f"{REGISTRY_HOST}/mlops-platform"
# Upstream registries the node resolves through the local registry (an air-gapped mirror): the
# upstream manifests Argo CD syncs keep their image names, and `make images` pushes the image built
# here for each under that same name (tools/platform/images/<name>: its `serve-as:` line).
MIRRORED_REGISTRIES = ("quay.io", "ghcr.io", "docker.io", "registry.k8s.io", "public.ecr.aws",
                       "oci.external-secrets.io")


@dataclass(frozen=True)
class Layout:
    state_dir: Path

    @property
    def key(self) -> str:
        return hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:8]

    @property
    def netns(self) -> str:
        return f"mlops-k8s-{self.key}"

    @property
    def cgroup_root(self) -> str:
        """kubelet's cgroupRoot: every pod process lives below it, so down can find them all."""
        return f"/mlops-k8s-{self.key}"

    # --- state ----------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def controlplane_dir(self) -> Path:
        return self.state_dir / "controlplane"

    @property
    def pids(self) -> Path:
        return self.state_dir / "pids"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "config"

    @property
    def containerd_root(self) -> Path:
        return self.state_dir / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.state_dir / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.state_dir / "containerd" / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.state_dir / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.state_dir / "pod-logs"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state_dir / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.state_dir / "cni" / "ipam"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def local_volumes(self) -> Path:
        """Where the local-path provisioner creates PersistentVolumes (survive pod restarts)."""
        return self.state_dir / "volumes"

    # --- caches (outside the clone) --------------------------------------------------------
    @property
    def registry_storage(self) -> Path:
        return CACHE_DIR / "registry"


def default_layout() -> Layout:
    return Layout(RUN_DIR / "k8s")
