"""clusters/local, the one-node laptop cluster: it syncs the dev overlays with the laptop component
and must differ from dev only where a laptop must (our images from the local registry, small
requests, one replica, storage class local-path, its own cluster label), without the apps it cannot
run."""
from __future__ import annotations

import copy
import json
import re

import pytest
import yaml
from platform_render import ROOT, app, cluster, find, overlay, synced_apps

from tools import clusters

LOCAL = "local"
LOCAL_REGISTRY = "127.0.0.1:5000/mlops-platform/"
OUR_REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/"
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}

pytestmark = pytest.mark.skipif(LOCAL not in clusters.names(ROOT), reason="no clusters/local in this checkout")


def laptop_neutral(obj: dict) -> dict:
    """The object with the fields the laptop component may change put back to a neutral value."""
    obj = copy.deepcopy(obj)
    spec = obj.get("spec", {})
    if obj["kind"] in POD_KINDS:
        pod = spec["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            container["image"] = container["image"].replace(LOCAL_REGISTRY, OUR_REGISTRY).split(":")[0]
        for container in pod["containers"]:
            container.get("resources", {}).pop("requests", None)
        for claim in spec.get("volumeClaimTemplates", []):
            claim["spec"].pop("storageClassName", None)
    if obj["kind"] == "HorizontalPodAutoscaler":
        spec.pop("minReplicas", None)
        spec.pop("maxReplicas", None)
    if obj["kind"] == "Prometheus":
        spec["storage"]["volumeClaimTemplate"]["spec"].pop("storageClassName", None)
        spec["externalLabels"].pop("cluster", None)
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "airflow-job-images":
        obj["data"] = {k: v.replace(LOCAL_REGISTRY, OUR_REGISTRY).split(":")[0] for k, v in obj["data"].items()}
    if obj["kind"] == "ScheduledSparkApplication":
        spec["template"]["image"] = spec["template"]["image"].replace(LOCAL_REGISTRY, OUR_REGISTRY).split(":")[0]
        spec["template"]["sparkConf"].pop("spark.hadoop.fs.s3a.endpoint", None)
    # Object storage and the secret store: the local stand-ins' addresses (the laptop component).
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith(("spark-object-storage", "airflow-etl")):
        obj["data"].pop("S3_ENDPOINT", None)
        obj["data"].pop("ETL_S3_ENDPOINT", None)
    if obj["kind"] == "ClusterSecretStore":
        spec["provider"]["webhook"].pop("url", None)
    # Those ConfigMaps' content hashes (in their names and every reference to them) differ too.
    return json.loads(LOCAL_CONFIGMAP_HASH.sub(r"\1", json.dumps(obj)))


LOCAL_CONFIGMAP_HASH = re.compile(r"\b(spark-object-storage|airflow-etl)-[a-z0-9]{10}\b")


def by_key(objects) -> dict[tuple, dict]:
    return {(o["kind"], o["metadata"].get("namespace", ""), LOCAL_CONFIGMAP_HASH.sub(r"\1", o["metadata"]["name"])): o
            for o in objects}


def test_local_syncs_the_dev_overlays():
    assert overlay(LOCAL) == "dev"


# Apps only the laptop runs (`needs: local-only`: stand-ins for what NHN Cloud provides dev and prod).
LOCAL_ONLY = {p.parent.name for p in ROOT.glob("apps/*/application.yaml")
              if (yaml.safe_load(p.read_text()) or {}).get("needs") == "local-only"}


@pytest.mark.parametrize("name", sorted(set(synced_apps(LOCAL)) - LOCAL_ONLY) if LOCAL in clusters.names(ROOT) else [])
def test_local_differs_from_dev_only_where_a_laptop_must(name):
    local, dev = by_key(app(name, LOCAL)), by_key(app(name, "dev"))
    assert sorted(local) == sorted(dev), f"{name}: local renders other objects than dev"
    for key in dev:
        assert laptop_neutral(local[key]) == laptop_neutral(dev[key]), f"{name}: {key} differs beyond the laptop fields"


@pytest.mark.parametrize("left_out", ["cluster-autoscaler", "monitoring"])
def test_local_leaves_out_the_cloud_only_apps_and_says_why(left_out):
    assert left_out not in synced_apps(LOCAL)
    assert left_out in synced_apps("dev")
    entry = (ROOT / "clusters" / LOCAL / "kustomization.yaml").read_text()
    assert f"apps/{left_out}" in entry and "cannot" in entry, "say in clusters/local why it is left out"


def test_the_local_only_apps_are_in_local_and_in_no_other_cluster():
    assert "object-storage" in LOCAL_ONLY
    assert LOCAL_ONLY <= set(synced_apps(LOCAL))
    for other in clusters.names(ROOT):
        if other != LOCAL:
            assert not LOCAL_ONLY & set(synced_apps(other)), f"{other} syncs a local-only app"


def test_our_workload_images_come_from_the_local_registry():
    ours = []
    for name in synced_apps(LOCAL):
        for obj in app(name, LOCAL):
            if obj["kind"] in POD_KINDS:
                ours += [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]
                         + obj["spec"]["template"]["spec"].get("initContainers", [])
                         if "/mlops-platform/" in c["image"]]
            if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "airflow-job-images":
                ours += list(obj["data"].values())
    assert ours, "expected the Airflow and Spark images in local"
    assert [i for i in ours if not i.startswith(LOCAL_REGISTRY)] == []


def test_local_is_small_one_replica_and_uses_local_path():
    objects = [o for name in synced_apps(LOCAL) for o in app(name, LOCAL)]
    for hpa in find(objects, "HorizontalPodAutoscaler"):
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3), hpa["metadata"]["name"]
    for obj in objects:
        if obj["kind"] in POD_KINDS:
            assert obj["spec"].get("replicas", 1) == 1, obj["metadata"]["name"]
            for claim in obj["spec"].get("volumeClaimTemplates", []):
                assert claim["spec"]["storageClassName"] == "local-path", obj["metadata"]["name"]


def test_local_applications_add_the_laptop_component_and_nothing_else():
    laptop = ROOT / "clusters" / LOCAL / "laptop"
    for application in find(cluster(LOCAL), "Application"):
        for source in application["spec"]["sources"]:
            if source.get("name") == "platform" and source["path"].startswith("apps/"):
                assert source["path"].endswith(("/overlays/dev", "/base"))
                assert list(source["kustomize"]) == ["components"]
                # Argo CD resolves a component from the Application's path.
                assert [(ROOT / source["path"] / c).resolve() for c in source["kustomize"]["components"]] == [laptop]
