"""Offline checks (run by `make test`): the build modules follow the pins, stop is PID-safe."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tools.controlplane.apply import Applier, ObjectKey
from tools.controlplane.cluster import ControlPlane
from tools.gate.paths import read_versions

MODULES = Path(__file__).resolve().parents[3] / "tools" / "controlplane" / "modules"


def _requires(go_mod: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(\S+) (v\S+)(?: // indirect)?$", go_mod, re.MULTILINE))


def test_kubernetes_module_builds_the_pinned_server_with_matching_staging_modules():
    pin = read_versions()["K8S_SERVER_VERSION"]
    go_mod = (MODULES / "kubernetes" / "go.mod").read_text()
    assert _requires(go_mod)["k8s.io/kubernetes"] == pin, "run `make controlplane-modules`"
    staging = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", go_mod, re.MULTILINE)
    assert len(staging) >= 25, "every k8s.io staging module must be replaced by its release"
    assert {version for _, _, version in staging} == {"v0." + pin.removeprefix("v1.")}
    assert all(old == new for old, new, _ in staging)
    for command in ("kube-apiserver", "kube-controller-manager", "kubectl"):
        assert f"k8s.io/kubernetes/cmd/{command}" in go_mod
    assert f"k8s.io/kubernetes {pin} h1:" in (MODULES / "kubernetes" / "go.sum").read_text()


def test_etcd_module_builds_the_pinned_etcd():
    pin = read_versions()["ETCD_VERSION"]
    requires = _requires((MODULES / "etcd" / "go.mod").read_text())
    for module in ("server/v3", "api/v3", "client/pkg/v3", "client/v3", "pkg/v3"):
        assert requires[f"go.etcd.io/etcd/{module}"] == pin, module
    assert f"go.etcd.io/etcd/server/v3 {pin} h1:" in (MODULES / "etcd" / "go.sum").read_text()


def test_down_never_signals_a_process_it_did_not_start(tmp_path):
    """A stale PID file pointing at a stranger (PID reuse) must not make cluster-down kill it."""
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        plane = ControlPlane(tmp_path / "state")
        plane.pid_file("kube-apiserver").parent.mkdir(parents=True)
        plane.pid_file("kube-apiserver").write_text(f"{stranger.pid}\n")
        assert plane.running() == {}
        plane.down()
        assert stranger.poll() is None, "cluster-down killed a process it did not start"
        assert not plane.pid_file("kube-apiserver").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_kubectl_error_message_drops_warnings_and_the_temporary_file():
    path = "/w/apply/0001-HorizontalPodAutoscaler-ns-web.yaml"
    stderr = (
        "Warning: something harmless\n"
        f'Error from server (Invalid): error when creating "{path}": '
        'HorizontalPodAutoscaler.autoscaling "web" is invalid: spec.maxReplicas: Invalid value: 2\n'
    )
    message = Applier._clean_error(stderr, path)
    assert message == ('Error from server (Invalid): HorizontalPodAutoscaler.autoscaling "web" is invalid: '
                       "spec.maxReplicas: Invalid value: 2")
    assert str(ObjectKey("autoscaling", "HorizontalPodAutoscaler", "ns", "web")) == \
        "HorizontalPodAutoscaler.autoscaling ns/web"


def test_returned_objects_match_manifests_by_group_kind_namespace_and_name():
    returned = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "b"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}},
    ]
    assert Applier._find_returned(ObjectKey("", "Service", "b", "web"), returned) is returned[1]
    assert Applier._find_returned(ObjectKey("", "ConfigMap", "", "x"), returned) is returned[2]
    assert Applier._find_returned(ObjectKey("apps", "Deployment", "a", "web"), returned) is None
