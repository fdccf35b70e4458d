"""Environments: prod is HA (replicas, PDBs, HPA floors, spread), dev stays small."""
from __future__ import annotations

import yaml
from platform_render import app, find

HA_APPS = ["airflow", "spark-standalone"]
# Deliberate singletons: standalone master (HA needs ZooKeeper), in-cluster PostgreSQL (dev only),
# Cluster Autoscaler (one active leader by design).
SINGLETONS = {"spark-master", "airflow-postgres", "cluster-autoscaler"}


def workloads(env: str):
    for name in HA_APPS + ["cluster-autoscaler"]:
        objects = app(name, env)
        hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in find(objects, "HorizontalPodAutoscaler")}
        for kind in ("Deployment", "StatefulSet"):
            for workload in find(objects, kind):
                yield objects, workload, workload["metadata"]["name"] in hpa_targets


def covered_by_pdb(objects, workload) -> bool:
    labels = workload["spec"]["template"]["metadata"]["labels"]
    for pdb in find(objects, "PodDisruptionBudget", namespace=workload["metadata"]["namespace"]):
        selector = pdb["spec"]["selector"]["matchLabels"]
        if all(labels.get(k) == v for k, v in selector.items()):
            return True
    return False


def test_prod_control_components_are_replicated_with_pdbs():
    checked = 0
    for objects, workload, autoscaled in workloads("prod"):
        name = workload["metadata"]["name"]
        if name in SINGLETONS:
            continue
        if not autoscaled:
            assert workload["spec"]["replicas"] >= 2, f"{name} has {workload['spec']['replicas']} replica(s) in prod"
        assert covered_by_pdb(objects, workload), f"{name} has no PodDisruptionBudget in prod"
        checked += 1
    assert checked >= 6


def test_prod_hpas_keep_two_replicas():
    for name in HA_APPS:
        for hpa in find(app(name, "prod"), "HorizontalPodAutoscaler"):
            assert hpa["spec"]["minReplicas"] >= 2, hpa["metadata"]["name"]


def test_prod_spreads_replicas_across_zones_and_nodes():
    for _objects, workload, _ in workloads("prod"):
        keys = {c["topologyKey"] for c in workload["spec"]["template"]["spec"].get("topologySpreadConstraints", [])}
        if workload["kind"] == "Deployment" and workload["metadata"]["namespace"] != "cluster-autoscaler":
            assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys, workload["metadata"]["name"]


def test_dev_is_small():
    for _, workload, autoscaled in workloads("dev"):
        if not autoscaled:
            assert workload["spec"].get("replicas", 1) == 1, workload["metadata"]["name"]
    for name in HA_APPS:
        assert not find(app(name, "dev"), "PodDisruptionBudget")
        for hpa in find(app(name, "dev"), "HorizontalPodAutoscaler"):
            assert hpa["spec"]["minReplicas"] == 1


def test_every_namespace_used_is_a_declared_platform_namespace(env):
    """Objects may only land in namespaces apps/namespaces creates (with PSS label + default deny),
    or, for an app only some clusters run, in a namespace that app creates the same way."""
    from platform_render import PLATFORM_APPS, ROOT, cluster, synced_apps

    declared = {n["metadata"]["name"] for n in find(app("namespaces", env), "Namespace")}
    denied = {p["metadata"]["namespace"] for p in find(app("namespaces", env), "NetworkPolicy", "default-deny")}
    assert declared == denied
    for namespace in declared:
        labels = one_namespace(env, namespace)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", namespace
    # apps/namespaces is the same in every cluster; a namespace only the laptop has comes with its
    # local-only app (`needs: local-only`, apps/object-storage), locked down the same way.
    local_only = {p.parent.name for p in ROOT.glob("apps/*/application.yaml")
                  if (yaml.safe_load(p.read_text()) or {}).get("needs") == "local-only"}
    for name in sorted(local_only & set(synced_apps(env))):
        objects = app(name, env)
        for namespace in find(objects, "Namespace"):
            own = namespace["metadata"]["name"]
            assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted", own
            assert find(objects, "NetworkPolicy", "default-deny", namespace=own), own
            declared.add(own)
    used = {o["metadata"]["namespace"] for name in PLATFORM_APPS for o in app(name, env)
            if o["metadata"].get("namespace")}
    used |= {a["spec"]["destination"]["namespace"] for a in find(cluster(env), "Application")
             if a["metadata"]["name"] != "monitoring"}
    assert used <= declared, f"undeclared namespaces: {sorted(used - declared)}"


def one_namespace(env: str, name: str) -> dict:
    return find(app("namespaces", env), "Namespace", name)[0]
