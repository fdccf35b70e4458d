"""The node's configuration files, rendered from the layout (no templates: each is data).

Why each unusual setting is there:
- containerd `restrict_oom_score_adj`: this machine withholds CAP_SYS_RESOURCE; without it the CRI
  sandbox fails with "can't get final child's PID from pipe".
- kubelet `failCgroupV1: false`, `cgroupDriver: cgroupfs`: the machine has cgroup v1 and no systemd.
- kubelet `resolvConf`: an empty file, so no pod ever learns the host's resolvers (all DNS answers
  come from CoreDNS, which forwards nowhere).
- kube-proxy `masqueradeAll`: service traffic between two pods on one bridge returns through the
  gateway, so conntrack always sees both directions.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.k8s import layout as L


def containerd_toml(lay: L.Layout, sandbox_image: str) -> str:
    return f"""version = 2
root = "{lay.containerd_root}"
state = "{lay.containerd_state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{lay.containerd_socket}"

[ttrpc]
  address = "{lay.containerd_socket}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  # Pod network namespaces below our state directory, so `k8s-down` finds and removes them.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{lay.cni_conf_dir}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{lay.config_dir / 'certs.d'}"
"""


def registry_hosts_toml() -> str:
    # The local registry speaks plain HTTP on the namespace's loopback.
    return f"""server = "http://{L.REGISTRY_HOST}"

[host."http://{L.REGISTRY_HOST}"]
  capabilities = ["pull", "resolve"]
"""


def cni_conflist(lay: L.Layout) -> str:
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "mlops-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": L.POD_BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": L.POD_SUBNET, "gateway": L.POD_GATEWAY}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(lay.cni_ipam_dir),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        },
        indent=2,
    )


def kubelet_config(lay: L.Layout, ca: Path, serving_cert: Path, serving_key: Path) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": L.NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": lay.cgroup_root,
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{lay.containerd_socket}",
        "clusterDNS": [L.CLUSTER_DNS_IP],
        "clusterDomain": L.CLUSTER_DOMAIN,
        "resolvConf": str(lay.config_dir / "resolv.conf"),
        "podLogsDir": str(lay.pod_logs),
        "serializeImagePulls": False,
        "maxPods": 110,
        # A shared CI disk fills up with image layers: evict only when it is really short.
        "evictionHard": {"memory.available": "200Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "staticPodPath": "",
        # Faster status for a one-node cluster whose tests wait for it.
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }
    return json.dumps(config, indent=2)


def kube_proxy_config(lay: L.Layout, kubeconfig: Path, healthz_port: int, metrics_port: int) -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": L.NODE_NAME,
        "bindAddress": L.NODE_IP,
        "clusterCIDR": L.POD_SUBNET,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "iptables": {"masqueradeAll": True, "syncPeriod": "10s", "minSyncPeriod": "0s"},
        # The namespace cannot change the machine's conntrack table size: leave it alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpCloseWaitTimeout": "0s", "tcpEstablishedTimeout": "0s"},
    }
    return json.dumps(config, indent=2)


def registry_config(lay: L.Layout) -> str:
    return f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {lay.registry_storage}
  delete:
    enabled: true
http:
  addr: 0.0.0.0:{L.REGISTRY_PORT}
"""
