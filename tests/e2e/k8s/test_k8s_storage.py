"""A PersistentVolumeClaim binds through the local-path provisioner and its data survive the pod."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.k8s.conftest import image_records, restricted_pod

pytestmark = pytest.mark.e2e


def test_pvc_binds_and_survives_a_pod_restart(cluster, namespace):
    record = image_records("jobs")["airflow"]
    image = f"{record['image']}@{record['digest']}"
    ns = namespace("pvc")
    ns.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
              "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                       "resources": {"requests": {"storage": "64Mi"}}}})
    volume = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mount = [{"name": "data", "mountPath": "/data"}]
    token = uuid.uuid4().hex

    writer = restricted_pod("writer", image, ["sh", "-c", f"echo {token} > /data/token"], volumes=volume, mounts=mount)
    writer["spec"]["securityContext"]["fsGroup"] = 0
    ns.apply(writer)
    assert ns.wait_pod_phase("writer", {"Succeeded", "Failed"})["status"]["phase"] == "Succeeded", ns.logs("writer")
    claim = ns.get("pvc", "data")
    assert claim["status"]["phase"] == "Bound"
    cluster.kubectl("-n", ns.name, "delete", "pod", "writer", "--wait=true")

    reader = restricted_pod("reader", image, ["cat", "/data/token"], volumes=volume, mounts=mount)
    ns.apply(reader)
    assert ns.wait_pod_phase("reader", {"Succeeded", "Failed"})["status"]["phase"] == "Succeeded"
    assert ns.logs("reader").strip() == token
    # The same volume, not a new one.
    assert ns.get("pvc", "data")["spec"]["volumeName"] == claim["spec"]["volumeName"]
