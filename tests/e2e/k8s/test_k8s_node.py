"""The node is a real kubelet on containerd, at the pinned Kubernetes version, with its add-ons."""

from __future__ import annotations

import json

import pytest

from tools.k8s import layout as L
from tools.versions import pin

pytestmark = pytest.mark.e2e


def test_node_is_ready_on_containerd_at_the_pinned_version(cluster):
    node = json.loads(cluster.kubectl("get", "node", L.NODE_NAME, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True", conditions
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == pin("K8S_SERVER_VERSION")
    assert info["containerRuntimeVersion"].startswith("containerd://1.")
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == L.NODE_IP  # inside the node's own network namespace


@pytest.mark.parametrize("namespace_name, kind, name", [
    ("kube-system", "deployment", "coredns"),
    ("kube-system", "deployment", "metrics-server"),
    ("local-path-storage", "deployment", "local-path-provisioner"),
])
def test_add_ons_run_as_pods(cluster, namespace_name, kind, name):
    deployment = json.loads(cluster.kubectl("-n", namespace_name, "get", kind, name, "-o", "json").stdout)
    assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"] == 1
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    # Pulled from the local registry by digest, never by a mutable tag.
    assert image.startswith(L.IMAGE_REPOSITORY + "/") and "@sha256:" in image
