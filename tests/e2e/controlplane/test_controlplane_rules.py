"""Rules users rely on, proven on the live server with the applied manifests.

- A workload under an HPA keeps the HPA's replica count when Argo CD re-syncs (the manifests
  carry no `replicas`, so the sync does not own that field).
- The Airflow service account that launches task pods may create pods in `airflow` and nowhere
  else; its real pod template passes admission (PodSecurity `restricted` included) there.
"""

from __future__ import annotations

import copy
import time

import pytest
import yaml
from kubernetes import client

from tools.controlplane.apply import ObjectKey

pytestmark = pytest.mark.e2e

AIRFLOW_NAMESPACE = "airflow"
HPA_SYNC_SECONDS = 15  # kube-controller-manager's default --horizontal-pod-autoscaler-sync-period


def _scaled_targets(manifests):
    """(hpa, target manifest) for every HPA whose target is among the manifests."""
    by_key = {ObjectKey.of(item.obj): item for item in manifests}
    pairs = []
    for item in manifests:
        if item.obj["kind"] != "HorizontalPodAutoscaler":
            continue
        ref = item.obj["spec"]["scaleTargetRef"]
        group = ref["apiVersion"].split("/")[0] if "/" in ref["apiVersion"] else ""
        target = by_key.get(ObjectKey(group, ref["kind"], item.obj["metadata"]["namespace"], ref["name"]))
        if target is not None:
            pairs.append((item, target))
    return pairs


def _scale_api(api_client, kind):
    apps = client.AppsV1Api(api_client)
    readers = {"Deployment": apps.read_namespaced_deployment_scale,
               "StatefulSet": apps.read_namespaced_stateful_set_scale}
    writers = {"Deployment": apps.patch_namespaced_deployment_scale,
               "StatefulSet": apps.patch_namespaced_stateful_set_scale}
    if kind not in readers:
        pytest.fail(f"HPA target kind {kind} is not handled by this test")
    return readers[kind], writers[kind]


def _wait_replicas(read, name, namespace, want, seconds):
    deadline = time.monotonic() + seconds
    while True:
        replicas = read(name, namespace).spec.replicas
        if replicas == want or time.monotonic() > deadline:
            return replicas
        time.sleep(1)


def test_hpa_replica_count_survives_a_resync(cluster_run):
    pairs = _scaled_targets(cluster_run.manifests)
    assert pairs, f"{cluster_run.cluster}: no HorizontalPodAutoscaler targets a workload in the manifests"
    live = cluster_run.live
    for hpa_item, target_item in pairs:
        hpa, target = hpa_item.obj, target_item.obj
        name, namespace = target["metadata"]["name"], target["metadata"]["namespace"]
        where = f"{target_item.source}: {target['kind']} {namespace}/{name}"
        assert "replicas" not in target["spec"], (
            f"{where} sets spec.replicas although {hpa_item.source} scales it: every sync would fight the HPA"
        )
        read, write = _scale_api(live.api, target["kind"])
        minimum, maximum = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]

        # Without metrics the HPA controller still enforces its bounds: above maxReplicas it scales
        # down on its own. This shows the controller manager really reconciles this HPA.
        write(name, namespace, {"spec": {"replicas": maximum + 1}})
        assert _wait_replicas(read, name, namespace, maximum, 4 * HPA_SYNC_SECONDS) == maximum, (
            f"{where}: the HPA controller did not bring replicas back to maxReplicas={maximum}"
        )

        # What the HPA does under load: set replicas through the scale subresource.
        wanted = min(maximum, minimum + 1)
        write(name, namespace, {"spec": {"replicas": wanted}})
        resync = live.applier.apply(cluster_run.manifests, dry_run=False, batch="hpa-resync",
                                    force_conflicts=True)  # Argo CD's server-side sync forces
        assert not resync.rejected, "\n".join(map(str, resync.rejected))
        assert read(name, namespace).spec.replicas == wanted, f"{where}: the re-sync reset the HPA's replicas"

        # Negative control: a manifest that does carry replicas takes the field back on sync.
        with_replicas = copy.deepcopy(target_item)
        with_replicas.obj = copy.deepcopy(target)
        with_replicas.obj["spec"]["replicas"] = maximum if wanted != maximum else minimum
        control = live.applier.apply([with_replicas], dry_run=True, batch="hpa-control", force_conflicts=True)
        assert control.live[ObjectKey.of(target)]["spec"]["replicas"] == with_replicas.obj["spec"]["replicas"]


def _pods_of(core, obj):
    metadata, spec = obj["metadata"], obj["spec"]
    if obj["kind"] == "Job":
        selector = f"batch.kubernetes.io/job-name={metadata['name']}"
    else:
        selector = ",".join(f"{k}={v}" for k, v in spec["selector"].get("matchLabels", {}).items())
    return core.list_namespaced_pod(metadata["namespace"], label_selector=selector).items


def test_controllers_create_every_workload_pod(cluster_run):
    """kube-controller-manager creates the pods of every Deployment, StatefulSet and Job, and
    admission lets them in: the namespace's PodSecurity level, ServiceAccount existence, quotas.

    With no scheduler and no kubelet the pods stay Pending; their admission is what is proven.
    """
    core = client.CoreV1Api(cluster_run.live.api)
    workloads = [
        item for item in cluster_run.manifests
        if item.obj["kind"] in ("Deployment", "StatefulSet", "Job")
        and not item.obj["spec"].get("suspend") and item.obj["spec"].get("replicas", 1) != 0
    ]
    assert workloads, f"{cluster_run.cluster}: no workloads rendered"
    deadline = time.monotonic() + 120
    while True:
        without_pods = [item for item in workloads if not _pods_of(core, item.obj)]
        if not without_pods or time.monotonic() > deadline:
            break
        time.sleep(2)
    failures = sorted({
        f"{event.involved_object.kind} {event.involved_object.namespace}/{event.involved_object.name}: "
        f"{event.message}"
        for event in core.list_event_for_all_namespaces(field_selector="reason=FailedCreate").items
    })
    assert not failures, "the controllers' pod creation was rejected:\n" + "\n".join(failures)
    assert not without_pods, "no pod was created for:\n" + "\n".join(
        f"{item.source}: {ObjectKey.of(item.obj)}" for item in without_pods
    )


def _pod_launchers(manifests, namespace):
    """ServiceAccounts bound in `namespace` to a Role that may create pods."""
    roles = {
        item.obj["metadata"]["name"]
        for item in manifests
        if item.obj["kind"] == "Role" and item.obj["metadata"].get("namespace") == namespace
        and any(
            "" in rule.get("apiGroups", []) and "pods" in rule.get("resources", [])
            and "create" in rule.get("verbs", [])
            for rule in item.obj.get("rules", [])
        )
    }
    accounts = set()
    for item in manifests:
        obj = item.obj
        if obj["kind"] == "RoleBinding" and obj["metadata"].get("namespace") == namespace \
                and obj["roleRef"]["kind"] == "Role" and obj["roleRef"]["name"] in roles:
            accounts |= {(s.get("namespace", namespace), s["name"])
                         for s in obj.get("subjects", []) if s["kind"] == "ServiceAccount"}
    return sorted(accounts)


def _may_create_pods(api_client, user, namespace) -> bool:
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=user,
        groups=["system:serviceaccounts", f"system:serviceaccounts:{AIRFLOW_NAMESPACE}", "system:authenticated"],
        resource_attributes=client.V1ResourceAttributes(namespace=namespace, verb="create", resource="pods"),
    ))
    return client.AuthorizationV1Api(api_client).create_subject_access_review(review).status.allowed


def _airflow_pod_template(manifests):
    for item in manifests:
        obj = item.obj
        if obj["kind"] == "ConfigMap" and obj["metadata"].get("namespace") == AIRFLOW_NAMESPACE:
            for key, value in (obj.get("data") or {}).items():
                if key.endswith((".yaml", ".yml")):
                    parsed = yaml.safe_load(value)
                    if isinstance(parsed, dict) and parsed.get("kind") == "Pod":
                        return item, key, parsed
    return None


def test_airflow_service_account_creates_pods_only_in_its_namespace(cluster_run):
    accounts = _pod_launchers(cluster_run.manifests, AIRFLOW_NAMESPACE)
    assert accounts, f"{cluster_run.cluster}: no ServiceAccount may create pods in {AIRFLOW_NAMESPACE}"
    other_namespaces = sorted(
        {item.obj["metadata"]["name"] for item in cluster_run.manifests if item.obj["kind"] == "Namespace"}
        - {AIRFLOW_NAMESPACE}
    ) + ["default"]
    for namespace, name in accounts:
        user = f"system:serviceaccount:{namespace}:{name}"
        assert _may_create_pods(cluster_run.live.api, user, AIRFLOW_NAMESPACE), f"{user} cannot create pods"
        allowed_elsewhere = [ns for ns in other_namespaces if _may_create_pods(cluster_run.live.api, user, ns)]
        assert not allowed_elsewhere, f"{user} may create pods outside {AIRFLOW_NAMESPACE}: {allowed_elsewhere}"


def test_airflow_task_pod_template_is_admitted_as_the_launcher(cluster_run):
    """The KubernetesExecutor's pod template, created as the launcher SA (impersonated), dry-run.

    Admission runs for real: ServiceAccount, PodSecurity of the namespace, LimitRanger, quotas.
    """
    found = _airflow_pod_template(cluster_run.manifests)
    assert found, f"{cluster_run.cluster}: no pod template ConfigMap in {AIRFLOW_NAMESPACE}"
    source, key, pod = found
    pod = copy.deepcopy(pod)
    pod.setdefault("metadata", {})["name"] = "e2e-task-pod"
    pod["metadata"]["namespace"] = AIRFLOW_NAMESPACE
    for container in pod["spec"].get("containers", []):
        container.setdefault("image", "mlops-kr1-registry.container.nhncloud.com/mlops-platform/airflow:3.3.2")
    applier = cluster_run.live.applier
    path = applier.work_dir / "task-pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    launcher_namespace, launcher = _pod_launchers(cluster_run.manifests, AIRFLOW_NAMESPACE)[0]
    as_user = f"--as=system:serviceaccount:{launcher_namespace}:{launcher}"

    created = applier.kubectl_run("create", "--dry-run=server", as_user, "-f", str(path), "-o", "name",
                                  check=False)
    assert created.returncode == 0, (
        f"{source.source} (key {key}): the task pod template is rejected in {AIRFLOW_NAMESPACE}: "
        f"{created.stderr.strip()}"
    )
    pod["metadata"]["namespace"] = "default"
    other_path = applier.work_dir / "task-pod-default.yaml"
    other_path.write_text(yaml.safe_dump(pod))
    elsewhere = applier.kubectl_run("create", "--dry-run=server", as_user, "-f", str(other_path), check=False)
    assert elsewhere.returncode != 0 and "forbidden" in elsewhere.stderr.lower(), elsewhere.stderr
