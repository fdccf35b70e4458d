"""clusters/local, the one-node laptop cluster: it syncs the dev overlays with the laptop component
and must differ from dev only where a laptop must (our images from the local registry, small
requests, one replica, storage class local-path, its own cluster label), without the apps it cannot
run."""
from __future__ import annotations

import copy
import json
import re
import sys

import pytest
import yaml
from platform_render import ROOT, app, cluster, configmap_data, find, overlay, scheduler_task_pod_template, synced_apps

from tools import clusters
from tools.images.build import discover, upstream_ref

LOCAL = "local"
LOCAL_REGISTRY = "127.0.0.1:5000/mlops-platform/"
OUR_REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/"
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# The oidc.config keys the laptop sets for the local Keycloak (laptop/argocd-cm-oidc.yaml).
LAPTOP_OIDC_KEYS = ("name", "issuer", "cliClientID", "enablePKCEAuthentication")
LAPTOP = ROOT / "clusters" / "local" / "laptop" / "kustomization.yaml"
# The laptop's `images:` entries: upstream (or our cloud registry's) name -> local name and tag.
LAPTOP_IMAGES = {e["name"]: (e["newName"], str(e["newTag"]))
                 for e in (yaml.safe_load(LAPTOP.read_text()).get("images") or [])} if LAPTOP.exists() else {}
# Upstream images the laptop replaces with a stand-in of ours (not images of our cloud registry).
STAND_INS = {name: local for name, local in LAPTOP_IMAGES.items() if not name.startswith(OUR_REGISTRY)}


def image_name(ref: str) -> str:
    """The reference without its tag or digest (a registry port is not a tag)."""
    ref = ref.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def neutral_image(ref: str) -> str:
    """The image's name as dev has it: the laptop's mapping undone, tag and digest dropped."""
    name = image_name(ref)
    return next((upstream for upstream, (local, _) in LAPTOP_IMAGES.items() if local == name), name)

pytestmark = pytest.mark.skipif(LOCAL not in clusters.names(ROOT), reason="no clusters/local in this checkout")


LAPTOP_SPARK_TEMPLATE = yaml.safe_load((LAPTOP.parent / "spark-template.yaml").read_text()) if LAPTOP.exists() else {}


def drop_keys(obj: dict, patch: dict) -> None:
    """Remove from obj every leaf key the patch sets."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(obj.get(key), dict):
            drop_keys(obj[key], value)
        else:
            obj.pop(key, None)


def laptop_neutral(obj: dict) -> dict:
    """The object with the fields the laptop component may change put back to a neutral value."""
    obj = copy.deepcopy(obj)
    spec = obj.get("spec", {})
    if obj["kind"] in POD_KINDS:
        pod = spec["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            container["image"] = neutral_image(container["image"])
        for container in pod["containers"]:
            container.get("resources", {}).pop("requests", None)
        for claim in spec.get("volumeClaimTemplates", []):
            claim["spec"].pop("storageClassName", None)
    if obj["kind"] == "HorizontalPodAutoscaler":
        spec.pop("minReplicas", None)
        spec.pop("maxReplicas", None)
        if obj["metadata"]["name"] in ("airflow-api-server", "spark-worker"):
            # Average values and a shorter scale-down window (the laptop's reasons there;
            # tests/e2e/dataloop/test_dataloop_40_hpa.py and _50_worker_hpa.py watch them scale).
            spec.pop("metrics", None)
            spec.pop("behavior", None)
    if obj["kind"] == "ExternalSecret" and obj["metadata"]["name"] == "airflow-alerting-connections":
        # Alert mail to the local receiver (tests/manifests/test_alert_egress.py checks both ends).
        spec["target"]["template"]["data"].pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
    if obj["kind"] == "Prometheus":
        spec["storage"]["volumeClaimTemplate"]["spec"].pop("storageClassName", None)
        spec["externalLabels"].pop("cluster", None)
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "airflow-job-images":
        obj["data"] = {k: neutral_image(v) for k, v in obj["data"].items()}
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "airflow-git-sync":
        obj["data"].pop("GITSYNC_REPO")  # the local git server (test_local_git_sync_pulls_from_the_local_git_server)
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "argocd-cm":
        # Argo CD logs in through the local Keycloak the platform starts in the node namespace, not
        # the company IdP pods here cannot reach (the laptop's argocd-cm-oidc.yaml says why): its own
        # URL there, the issuer, the realm's CLI client and PKCE (test_sso.py checks them against
        # tools/platform and the realm). Client ID, secret reference, scopes and claims stay dev's.
        obj["data"].pop("url", None)
        oidc = yaml.safe_load(obj["data"]["oidc.config"])
        for key in LAPTOP_OIDC_KEYS:
            oidc.pop(key, None)
        obj["data"]["oidc.config"] = oidc
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "airflow-config":
        # The simple auth manager instead of dev's FAB login (test_sso.py, the laptop's reason there).
        obj["data"].pop("AIRFLOW__CORE__AUTH_MANAGER", None)
        # Two task slots, so task pods and their Spark pods fit one node (the laptop's reason there).
        obj["data"].pop("AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT", None)
    if obj["kind"] == "ScheduledSparkApplication":
        spec["template"]["image"] = neutral_image(spec["template"]["image"])
        # What the laptop's template patch sets (test_the_dags_submit_the_laptop_template below).
        drop_keys(spec["template"], LAPTOP_SPARK_TEMPLATE["spec"]["template"])
    # Object storage and the secret store: the local stand-ins' addresses (the laptop component).
    if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith(("spark-object-storage", "airflow-etl")):
        obj["data"].pop("S3_ENDPOINT", None)
        obj["data"].pop("ETL_S3_ENDPOINT", None)
        obj["data"].pop("ETL_SPARK_TEMPLATE_CLUSTER_PATCH", None)
        obj["data"].pop("ETL_INPUT_PARTITIONS", None)  # two raw files a day (the laptop's reason there)
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


def test_our_workload_images_come_from_the_local_registry(tmp_path):
    """Every image a local pod runs, ours or an upstream one the laptop replaces with a stand-in,
    comes from the local registry; the task pods' too (the scheduler's copy of the pod template)."""
    ours, everything = [], []
    for name in synced_apps(LOCAL):
        for obj in app(name, LOCAL):
            if obj["kind"] in POD_KINDS:
                everything += [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]
                               + obj["spec"]["template"]["spec"].get("initContainers", [])]
            if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "airflow-job-images":
                everything += list(obj["data"].values())
    task_pod = scheduler_task_pod_template(LOCAL, tmp_path)["spec"]
    # `base` is replaced by the scheduler's own image at run time (AIRFLOW_WORKER_IMAGE, checked above).
    everything += [c["image"] for c in task_pod.get("initContainers", []) + task_pod["containers"]
                   if c["name"] != "base"]
    ours = [i for i in everything if "/mlops-platform/" in i]
    assert ours, "expected the Airflow and Spark images in local"
    assert [i for i in ours if not i.startswith(LOCAL_REGISTRY)] == []
    replaced = [i for i in everything if image_name(i) in STAND_INS]
    assert replaced == [], "images the laptop maps to a local stand-in are still upstream"
    assert {"git-sync", "postgres"} <= {image_name(i).rsplit("/", 1)[-1] for i in everything if i.startswith(LOCAL_REGISTRY)}


def test_laptop_stand_ins_are_served_under_our_name_by_the_image_built_for_them():
    """Each upstream image the laptop maps is one of tools/platform/images, served (serve-as) under
    exactly the local name and tag the laptop gives, never under the upstream name, with the reason
    said next to the mapping."""
    assert {"docker.io/library/postgres", "registry.k8s.io/git-sync/git-sync"} <= set(STAND_INS)
    platform = {i.name: i for i in discover() if i.group == "platform"}
    text = LAPTOP.read_text()
    for upstream, (local, tag) in STAND_INS.items():
        assert local.startswith(LOCAL_REGISTRY), upstream
        image = platform[local.rsplit("/", 1)[-1]]
        served = upstream_ref(image.dockerfile)
        assert served == f"{local}:{tag}", f"{image.dockerfile} serves {served}, the laptop names {local}:{tag}"
        assert not served.startswith(upstream + ":"), "a stand-in must not be served as the upstream image"
        # A comment right above the entry says why.
        above = text[:text.index(f"- name: {upstream}\n")].rstrip().splitlines()[-1]
        assert above.lstrip().startswith("#"), f"say in {LAPTOP} why {upstream} is replaced"


def test_local_git_sync_pulls_from_the_local_git_server():
    """The laptop changes GITSYNC_REPO only: the cluster's own repoURL (plain HTTP, no SSH)."""
    entry = yaml.safe_load((ROOT / "clusters" / LOCAL / "kustomization.yaml").read_text())
    literals = dict(item.split("=", 1) for gen in entry["configMapGenerator"] if gen["name"] == "cluster-settings"
                    for item in gen["literals"])
    local = configmap_data(app("airflow", LOCAL), "airflow-git-sync", "airflow")
    dev = configmap_data(app("airflow", "dev"), "airflow-git-sync", "airflow")
    assert local["GITSYNC_REPO"] == literals["repoURL"]
    assert re.match(r"^http://10\.80\.0\.10:\d+/", local["GITSYNC_REPO"])
    assert {k: v for k, v in local.items() if k != "GITSYNC_REPO"} == {k: v for k, v in dev.items() if k != "GITSYNC_REPO"}


def test_local_is_small_one_replica_and_uses_local_path():
    objects = [o for name in synced_apps(LOCAL) for o in app(name, LOCAL)]
    for hpa in find(objects, "HorizontalPodAutoscaler"):
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2), hpa["metadata"]["name"]
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


def test_the_dags_submit_the_laptop_template():
    """The laptop's template patch reaches the applications the DAGs submit: the local Airflow names
    the file, and the DAGs' merge of base + dev overlay + that file is the etl-template local renders."""
    if str(ROOT / "dags") not in sys.path:
        sys.path.insert(0, str(ROOT / "dags"))  # as in every Airflow process
    from mlops_dags import spark_app

    etl = configmap_data(app("airflow", LOCAL), "airflow-etl", "airflow")
    patch = etl["ETL_SPARK_TEMPLATE_CLUSTER_PATCH"]
    assert (ROOT / patch).resolve() == (LAPTOP.parent / "spark-template.yaml").resolve()
    (rendered,) = find(app("airflow", LOCAL), "ScheduledSparkApplication", "etl-template", "spark-jobs")
    merged = copy.deepcopy(spark_app.template_for(etl["ETL_PLATFORM_OVERLAY"], patch))
    expected = copy.deepcopy(rendered["spec"]["template"])
    merged.pop("image"), expected.pop("image")  # set per cluster by kustomize's images (ETL_JOB_IMAGE)
    assert merged == expected
    assert expected["executor"]["coreRequest"] == "100m"


@pytest.mark.parametrize("name", sorted(set(synced_apps(LOCAL))) if LOCAL in clusters.names(ROOT) else [])
def test_local_hpas_read_only_metrics_the_local_cluster_serves(name):
    """The laptop runs metrics-server (resource metrics) but not prometheus-adapter (the custom
    metrics API, in the cloud-only monitoring app). An HPA with a metric it cannot read scales up
    on the others but never down, so every local HPA must use Resource metrics only, and as
    average values: a share of the laptop's tiny requests would always be over its target."""
    for hpa in (o for o in app(name, LOCAL) if o["kind"] == "HorizontalPodAutoscaler"):
        for metric in hpa["spec"]["metrics"]:
            where = f"{name}: HPA {hpa['metadata']['name']}"
            assert metric["type"] == "Resource", f"{where}: a {metric['type']} metric, which local cannot serve"
            assert metric["resource"]["target"]["type"] == "AverageValue", \
                f"{where}: {metric['resource']['name']} as a share of the laptop's request"
