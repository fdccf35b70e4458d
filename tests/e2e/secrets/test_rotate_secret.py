"""`make rotate-secret` against a real API server + controller manager with the dev cluster applied.

Proves: the ExternalSecret gets a new force-sync annotation (what makes ESO re-read the store), every
workload that reads the Secret gets a new pod template (restartedAt) and its controller starts a new
ReplicaSet / revision (what rolls the pods), and nothing else in the cluster changes.
"""
from __future__ import annotations

import os
import subprocess
import time

import pytest
from kubernetes import client

from tests.e2e.secrets.conftest import CLUSTER, owned_replica_sets, wait_for
from tools.controlplane.cluster import ROOT
from tools.secrets.rotate import FORCE_SYNC_ANNOTATION, RESTARTED_AT_ANNOTATION

pytestmark = pytest.mark.e2e

ES_GROUP, ES_VERSION, ES_PLURAL = "external-secrets.io", "v1", "externalsecrets"
FERNET_READERS = {"airflow-api-server", "airflow-dag-processor", "airflow-scheduler", "airflow-triggerer"}


def make_rotate(live, secret: str, namespace: str, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBECONFIG=str(live.plane.kubeconfig))
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "rotate-secret", f"SECRET={secret}", f"NAMESPACE={namespace}",
         f"CLUSTER={CLUSTER}", *extra],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )


def workloads(live) -> dict[str, object]:
    """'Kind ns/name' -> live object for every Deployment, StatefulSet and DaemonSet."""
    apps = client.AppsV1Api(live.api)
    found = {}
    for kind, lister in (("Deployment", apps.list_deployment_for_all_namespaces),
                         ("StatefulSet", apps.list_stateful_set_for_all_namespaces),
                         ("DaemonSet", apps.list_daemon_set_for_all_namespaces)):
        for obj in lister().items:
            found[f"{kind} {obj.metadata.namespace}/{obj.metadata.name}"] = obj
    return found


def external_secrets(live) -> dict[str, dict]:
    items = client.CustomObjectsApi(live.api).list_cluster_custom_object(ES_GROUP, ES_VERSION, ES_PLURAL)["items"]
    return {f"{es['metadata']['namespace']}/{es['metadata']['name']}": es for es in items}


def template_annotations(workload) -> dict:
    return workload.spec.template.metadata.annotations or {}


def test_dry_run_changes_nothing(dev_plane):
    # generation, not resourceVersion: controllers keep writing status; only a spec change counts.
    before_workloads = {k: w.metadata.generation for k, w in workloads(dev_plane).items()}
    before_es = {k: es["metadata"]["resourceVersion"] for k, es in external_secrets(dev_plane).items()}

    result = make_rotate(dev_plane, "airflow-fernet-key", "airflow", "DRY_RUN=1")

    assert result.returncode == 0, result.stderr
    assert "Deployment airflow/airflow-scheduler" in result.stdout
    assert "dry run: nothing changed" in result.stdout
    assert {k: w.metadata.generation for k, w in workloads(dev_plane).items()} == before_workloads
    assert {k: es["metadata"]["resourceVersion"] for k, es in external_secrets(dev_plane).items()} == before_es


def test_rotating_the_fernet_key_resyncs_it_and_rolls_its_readers_only(dev_plane):
    apps = client.AppsV1Api(dev_plane.api)
    before = workloads(dev_plane)
    readers = {f"Deployment airflow/{name}" for name in FERNET_READERS}
    assert readers <= before.keys(), "the dev cluster lacks an Airflow component"
    first_replica_sets = {key: {rs.metadata.name for rs in owned_replica_sets(apps, before[key])} for key in readers}
    started = int(time.time())

    result = make_rotate(dev_plane, "airflow-fernet-key", "airflow")

    finished = int(time.time())
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    print(result.stdout)

    # ESO re-syncs on the annotation change: it must be new and carry the run's unix time.
    all_es = external_secrets(dev_plane)
    force_sync = all_es["airflow/airflow-fernet-key"]["metadata"].get("annotations", {}).get(FORCE_SYNC_ANNOTATION)
    assert force_sync is not None and started <= int(force_sync) <= finished
    untouched_es = [k for k, es in all_es.items()
                    if k != "airflow/airflow-fernet-key" and FORCE_SYNC_ANNOTATION in (es["metadata"].get("annotations") or {})]
    assert untouched_es == []

    after = workloads(dev_plane)
    for key in readers:
        assert RESTARTED_AT_ANNOTATION in template_annotations(after[key]), key
        assert after[key].metadata.generation == before[key].metadata.generation + 1, key
    # Everything else (other Airflow workloads such as the metadata DB, other namespaces) is untouched.
    for key in before.keys() - readers:
        assert after[key].metadata.generation == before[key].metadata.generation, key
        assert RESTARTED_AT_ANNOTATION not in template_annotations(after[key]), key

    # The controller manager answers the template change with a new ReplicaSet per reader: the roll.
    for key in readers:
        def new_replica_set(key=key):  # bound now: wait_for calls it within this iteration
            replica_sets = owned_replica_sets(apps, apps.read_namespaced_deployment(
                after[key].metadata.name, after[key].metadata.namespace))
            return [rs for rs in replica_sets if rs.metadata.name not in first_replica_sets[key]]
        created = wait_for(new_replica_set, f"a new ReplicaSet of {key}")
        assert len(created) == 1, key
        restarted_at = template_annotations(created[0])[RESTARTED_AT_ANNOTATION]
        assert restarted_at == template_annotations(after[key])[RESTARTED_AT_ANNOTATION]


def test_a_statefulset_reader_gets_a_new_revision(dev_plane):
    # In dev the metadata DB (a StatefulSet) reads airflow-metadata-db too.
    apps = client.AppsV1Api(dev_plane.api)
    postgres = apps.read_namespaced_stateful_set("airflow-postgres", "airflow")
    wait_for(lambda: apps.read_namespaced_stateful_set("airflow-postgres", "airflow").status.current_revision,
             "the first revision of StatefulSet airflow/airflow-postgres")
    first_revision = apps.read_namespaced_stateful_set("airflow-postgres", "airflow").status.update_revision

    result = make_rotate(dev_plane, "airflow-metadata-db", "airflow")

    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "restarted StatefulSet airflow/airflow-postgres" in result.stdout
    restarted = apps.read_namespaced_stateful_set("airflow-postgres", "airflow")
    assert RESTARTED_AT_ANNOTATION in template_annotations(restarted)
    assert restarted.metadata.generation == postgres.metadata.generation + 1
    new_revision = wait_for(
        lambda: (r := apps.read_namespaced_stateful_set("airflow-postgres", "airflow").status.update_revision)
        != first_revision and r,
        "a new revision of StatefulSet airflow/airflow-postgres")
    assert new_revision != first_revision


def make_fernet(live) -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBECONFIG=str(live.plane.kubeconfig))
    return subprocess.run(["make", "-s", "-C", str(ROOT), "rotate-fernet-key", f"CLUSTER={CLUSTER}"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_fernet_step_waits_for_the_rollout_and_picks_a_ready_pod_of_the_new_template(dev_plane):
    apps, core = client.AppsV1Api(dev_plane.api), client.CoreV1Api(dev_plane.api)
    scheduler = apps.read_namespaced_deployment("airflow-scheduler", "airflow")
    assert RESTARTED_AT_ANNOTATION in template_annotations(scheduler), "runs after the fernet key rotation"

    # No kubelet: the restarted pods never start, so the rollout is unfinished and the step refuses.
    result = make_fernet(dev_plane)
    # (make turns any failing recipe into exit 2; the CLI's own codes are unit-tested.)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "rollout of Deployment airflow/airflow-scheduler is not finished" in result.stderr

    # Play the kubelet for the new ReplicaSet's pods; the real controllers then finish the rollout.
    def newest_replica_set():
        live = apps.read_namespaced_deployment("airflow-scheduler", "airflow")
        revision = live.metadata.annotations["deployment.kubernetes.io/revision"]
        return [rs for rs in owned_replica_sets(apps, live)
                if rs.metadata.annotations.get("deployment.kubernetes.io/revision") == revision]

    newest = wait_for(newest_replica_set, "the scheduler's newest ReplicaSet")[0]

    def new_pods():
        pods = core.list_namespaced_pod("airflow").items
        return [p for p in pods if any(r.uid == newest.metadata.uid for r in p.metadata.owner_references or [])]

    for pod in wait_for(new_pods, "pods of the scheduler's new ReplicaSet"):
        core.patch_namespaced_pod_status(pod.metadata.name, "airflow", {"status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}],
        }})

    def rollout_finished():
        live = apps.read_namespaced_deployment("airflow-scheduler", "airflow")
        wanted = live.spec.replicas
        status = live.status
        return (status.updated_replicas == wanted and status.ready_replicas == wanted
                and status.replicas == wanted and status.observed_generation == live.metadata.generation)

    wait_for(rollout_finished, "the scheduler rollout to finish")

    # Now a pod of the new template is chosen; the exec itself needs a kubelet, which is not here.
    result = make_fernet(dev_plane)
    chosen = {p.metadata.name for p in new_pods()}
    assert any(f"in pod airflow/{name} (container airflow)" in result.stdout for name in chosen), result.stdout
    assert result.returncode != 0
    # The API server's own answer for a pod no kubelet has taken: proof the request got that far.
    assert "refused to exec in airflow/" in result.stderr and "does not have a host assigned" in result.stderr, \
        result.stderr


def test_a_reader_missing_in_the_cluster_is_reported_and_the_rest_still_restart(dev_plane):
    apps = client.AppsV1Api(dev_plane.api)
    apps.delete_namespaced_deployment("airflow-triggerer", "airflow")
    wait_for(lambda: "Deployment airflow/airflow-triggerer" not in workloads(dev_plane),
             "Deployment airflow/airflow-triggerer to be gone")
    before = apps.read_namespaced_deployment("airflow-dag-processor", "airflow").metadata.generation

    result = make_rotate(dev_plane, "airflow-git-ssh", "airflow")

    assert result.returncode != 0
    assert "Deployment airflow/airflow-triggerer is in the manifests of cluster dev but not on" in result.stderr
    assert "restarted Deployment airflow/airflow-dag-processor" in result.stdout
    assert apps.read_namespaced_deployment("airflow-dag-processor", "airflow").metadata.generation == before + 1
