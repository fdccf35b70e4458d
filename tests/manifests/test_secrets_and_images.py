"""No plaintext Secrets; every consumed Secret is produced by an ExternalSecret; images flow from
the overlay's `images:` list to what runs."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from platform_render import PLATFORM_APPS, ROOT, app, cluster, configmap_data, find, one, overlay, render_dir, task_pod_template

from tools.versions import read_versions

ETL_IMAGE = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/spark-etl"
AIRFLOW_IMAGE = "mlops-kr1-registry.container.nhncloud.com/mlops-platform/airflow"

# The Secret contract shared by all areas: name -> keys.
CONTRACT = {
    ("airflow", "airflow-metadata-db"): {"connection"},
    ("airflow", "airflow-fernet-key"): {"fernet-key"},
    ("airflow", "airflow-api-secret"): {"jwt-secret", "api-secret-key"},
    ("airflow", "airflow-git-ssh"): {"gitSshKey", "known_hosts"},
    ("airflow", "object-storage-credentials"): {"access-key", "secret-key"},
    ("spark-jobs", "object-storage-credentials"): {"access-key", "secret-key"},
    ("spark", "object-storage-credentials"): {"access-key", "secret-key"},
    ("cluster-autoscaler", "cluster-autoscaler-cloud-config"): {"cloud-config"},
    ("monitoring", "alerting"): {"slack-webhook-url", "dooray-webhook-url", "smtp-password"},
    ("argocd", "argocd-secret"): {"webhook.github.secret"},
}


def everything(env: str) -> list[dict]:
    objects = list(cluster(env))
    for name in PLATFORM_APPS:
        objects += app(name, env)
    return objects


def produced_keys(env: str) -> dict[tuple[str, str], set[str]]:
    """Secret (namespace, name) -> keys, as the ExternalSecrets will write them."""
    out: dict[tuple[str, str], set[str]] = {}
    for es in find(everything(env), "ExternalSecret"):
        target = es["spec"]["target"]
        template = (target.get("template") or {}).get("data")
        keys = set(template) if template else {d["secretKey"] for d in es["spec"]["data"]}
        out.setdefault((es["metadata"]["namespace"], target["name"]), set()).update(keys)
    return out


def pod_specs(objects):
    for obj in objects:
        spec = obj.get("spec", {})
        if obj["kind"] in {"Deployment", "StatefulSet", "Job", "DaemonSet"}:
            yield obj["metadata"]["namespace"], obj["metadata"]["name"], spec["template"]["spec"]


def consumed_secrets(namespace: str, pod_spec: dict):
    for volume in pod_spec.get("volumes", []):
        if "secret" in volume:
            yield volume["secret"]["secretName"], {i["key"] for i in volume["secret"].get("items", [])}
    for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                yield ref["name"], {ref["key"]}
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                yield source["secretRef"]["name"], set()


def test_no_plaintext_secret_anywhere(env):
    secrets = [f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" for o in everything(env)
               if o["kind"] == "Secret"]
    assert not secrets, f"plaintext Secret objects rendered: {secrets}"


def test_the_secret_contract_is_fulfilled(env):
    produced = produced_keys(env)
    for secret, keys in CONTRACT.items():
        assert keys <= produced.get(secret, set()), f"{secret}: ExternalSecrets give {produced.get(secret)}"


def test_every_consumed_secret_key_is_produced_in_the_same_namespace(env):
    produced = produced_keys(env)
    objects = everything(env)
    specs = list(pod_specs(objects)) + [("airflow", "pod-template", task_pod_template(env)["spec"])]
    checked = 0
    for namespace, owner, spec in specs:
        for name, keys in consumed_secrets(namespace, spec):
            assert (namespace, name) in produced, f"{namespace}/{owner} reads Secret {name}: no ExternalSecret makes it"
            assert keys <= produced[(namespace, name)], f"{namespace}/{owner}: {name} lacks {keys - produced[(namespace, name)]}"
            checked += 1
    assert checked >= 10


def test_external_secrets_use_the_skm_store(env):
    store = one(app("external-secrets", env), "ClusterSecretStore", "nhn-skm")
    webhook = store["spec"]["provider"]["webhook"]
    # local: the same API on the local Secure Key Manager (tools/platform/skm.py, the node address).
    host = "http://10.80.0.10:8419" if env == "local" else "https://api-keymanager.nhncloudservice.com"
    assert webhook["url"].startswith(f"{host}/keymanager/v1.2/appkey/{{{{ .auth.appkey }}}}/secrets/")
    assert "{{ .remoteRef.key }}" in webhook["url"]
    assert webhook["result"]["jsonPath"] == "$.body.secret"
    for es in find(everything(env), "ExternalSecret"):
        assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "nhn-skm"}
        assert es["metadata"]["namespace"] in store["spec"]["conditions"][0]["namespaces"]


def test_dev_builds_the_db_url_for_the_in_cluster_postgres():
    es = one(app("external-secrets", "dev"), "ExternalSecret", "airflow-metadata-db", "airflow")
    template = es["spec"]["target"]["template"]["data"]
    assert "@airflow-postgres.airflow.svc.cluster.local:5432/airflow" in template["connection"]
    service = one(app("airflow", "dev"), "Service", "airflow-postgres", "airflow")
    assert service["spec"]["ports"][0]["port"] == 5432


def test_alert_connections_render_as_airflow_connections(env):
    """Fill the ESO template the way its toJson does and let Airflow parse the connections."""
    import json
    import re

    from airflow.models.connection import Connection

    es = one(app("external-secrets", env), "ExternalSecret", "airflow-alerting-connections", "airflow")
    samples = {"slack-webhook-url": "https://hooks.example/services/T0/B0/x\"y",
               "dooray-webhook-url": "https://hook.dooray.example/services/1/2/3",
               "smtp-password": 'p@ss"word'}
    assert {d["secretKey"] for d in es["spec"]["data"]} == set(samples)
    conns = {}
    for var, template in es["spec"]["target"]["template"]["data"].items():
        text = re.sub(r'\{\{ index \. "([a-z-]+)" \| toJson \}\}', lambda m: json.dumps(samples[m.group(1)]), template)
        assert "{{" not in text, f"{var}: unhandled template syntax"
        conns[var] = Connection.from_json(text, conn_id=var.removeprefix("AIRFLOW_CONN_").lower())
    assert conns["AIRFLOW_CONN_SLACK_ALERTS"].conn_type == "slackwebhook"
    assert conns["AIRFLOW_CONN_SLACK_ALERTS"].password == samples["slack-webhook-url"]
    assert conns["AIRFLOW_CONN_SMTP_DEFAULT"].password == samples["smtp-password"]
    assert conns["AIRFLOW_CONN_DOORAY_ALERTS"].password == samples["dooray-webhook-url"]
    # The connection ids are the ones the DAGs use.
    alerts = (ROOT / "dags/mlops_dags/alerts.py").read_text()
    for conn_id in ("smtp_default", "slack_alerts", "dooray_alerts"):
        assert f'"{conn_id}"' in alerts


# --- images -----------------------------------------------------------------------------------

def overlay_images(env: str) -> dict[str, dict]:
    """The Airflow overlay's images entries, with a cluster component's entries on top (the
    laptop component points clusters/local at its registry)."""
    entries = {}
    for path in [ROOT / f"apps/airflow/overlays/{overlay(env)}/kustomization.yaml",
                 *sorted((ROOT / "clusters" / env).glob("*/kustomization.yaml"))]:
        for image in yaml.safe_load(path.read_text()).get("images") or []:
            entries[image["name"]] = {**entries.get(image["name"], {}), **image}
    return entries


def test_overlay_etl_image_reaches_etl_job_image(env):
    entry = overlay_images(env)[ETL_IMAGE]
    expected = f"{entry.get('newName', ETL_IMAGE)}:{entry['newTag']}"
    objects = app("airflow", env)
    assert configmap_data(objects, "airflow-job-images", "airflow")["ETL_JOB_IMAGE"] == expected
    assert one(objects, "ScheduledSparkApplication", "etl-template", "spark-jobs")["spec"]["template"]["image"] == expected


@pytest.mark.parametrize("bump", [{"newTag": "9.9.9-test"}, {"digest": "sha256:" + "c0" * 32}])
def test_a_bumped_overlay_changes_every_place_the_image_runs(tmp_path: Path, bump):
    """What the Jenkins bump tool does: edit the overlay's images entry, render, compare."""
    copy = tmp_path / "apps"
    shutil.copytree(ROOT / "apps/airflow", copy / "airflow")
    shutil.copytree(ROOT / "apps/components", copy / "components")
    path = copy / "airflow/overlays/prod/kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    for image in kustomization["images"]:
        image.pop("newTag", None)
        image.update(bump)
    path.write_text(yaml.safe_dump(kustomization))
    objects = render_dir(path.parent)
    suffix = f":{bump['newTag']}" if "newTag" in bump else f"@{bump['digest']}"
    # Our images follow the bump; git-sync's (an upstream image the overlay does not bump) stays.
    assert configmap_data(objects, "airflow-job-images", "airflow") == {
        "ETL_JOB_IMAGE": ETL_IMAGE + suffix, "AIRFLOW_WORKER_IMAGE": AIRFLOW_IMAGE + suffix,
        "GIT_SYNC_IMAGE": "registry.k8s.io/git-sync/git-sync:" + read_versions()["GIT_SYNC_VERSION"]}
    template = one(objects, "ScheduledSparkApplication", "etl-template", "spark-jobs")
    assert template["spec"]["template"]["image"] == ETL_IMAGE + suffix
    for deployment in find(objects, "Deployment"):
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "airflow":
                assert c["image"] == AIRFLOW_IMAGE + suffix


def test_airflow_pods_read_etl_job_image_from_the_configmap(env):
    for deployment in find(app("airflow", env), "Deployment"):
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            if c["name"] != "airflow":
                continue
            ref = {e["name"]: e for e in c["env"]}["ETL_JOB_IMAGE"]["valueFrom"]["configMapKeyRef"]
            assert ref == {"name": "airflow-job-images", "key": "ETL_JOB_IMAGE"}
