"""apps/jenkins: Jenkins' namespaces, service accounts, RBAC, Secrets and caches render and pass the static gate,
and every Secret they hold comes from an ExternalSecret the real store admits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.gate.render import render

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "apps" / "jenkins"
OVERLAYS = sorted(p.name for p in (APP / "overlays").iterdir() if p.is_dir())
EXCEPTIONS = ROOT / "policies" / "exceptions.yaml"
CASC = yaml.safe_load((ROOT / "jenkins" / "casc" / "jenkins.yaml").read_text())


def gate(overlay: str, *extra: str) -> subprocess.CompletedProcess:
    """The gate's CLI on one overlay, checked as if deployed to the cluster of the same name."""
    return subprocess.run([sys.executable, "-m", "tools.gate", "--path", str(APP / "overlays" / overlay),
                           "--cluster", overlay, *extra], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PATH=f"{ROOT / '.tools' / 'bin'}:{ROOT / '.venv' / 'bin'}:/usr/bin:/bin"))


def objects(overlay: str = "prod") -> list[dict]:
    return render(APP / "overlays" / overlay)


def find(items: list[dict], kind: str, name: str, namespace: str | None = None) -> dict:
    hits = [o for o in items if o["kind"] == kind and o["metadata"]["name"] == name
            and (namespace is None or o["metadata"].get("namespace") == namespace)]
    assert len(hits) == 1, f"expected one {kind} {namespace}/{name}, found {len(hits)}"
    return hits[0]


def test_there_are_dev_and_prod_overlays():
    assert OVERLAYS == ["dev", "prod"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_the_gate_with_the_repository_exceptions(overlay):
    """`make validate` renders every apps/*/overlays/<cluster>, so apps/jenkins is checked there too;
    this runs the gate on the overlay alone."""
    result = gate(overlay, "--exceptions", str(EXCEPTIONS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"gate: {overlay}: 1 kustomizations rendered" in result.stdout and ", 0 failures" in result.stdout


def test_without_the_exception_only_the_privileged_agent_namespace_fails():
    """The exception is needed, and it is the only thing that is: no other finding hides behind it."""
    result = gate("prod")
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert len(failures) == 1 and "namespace-pss-label" in failures[0], result.stdout
    assert "jenkins-agents" in result.stdout


def test_the_agent_namespace_exception_says_why():
    entries = [e for e in yaml.safe_load(EXCEPTIONS.read_text())["exceptions"] if e["name"] == "jenkins-agents"]
    assert [(e["rule"], e["kind"]) for e in entries] == [("namespace-pss-label", "Namespace")]
    find(objects(), "Namespace", "jenkins-agents")
    reason = entries[0]["reason"]
    assert "kaniko" in reason and "privileged" in reason and "jenkins/agents/e2e-pod.yaml" in reason


def test_namespaces_the_jenkins_cloud_uses_are_defined():
    rendered = objects()
    cloud = CASC["jenkins"]["clouds"][0]["kubernetes"]
    agents_ns = find(rendered, "Namespace", cloud["namespace"])
    controller_ns = cloud["jenkinsUrl"].split("//")[1].split(".")[1]  # http://jenkins.<namespace>.svc...
    find(rendered, "Namespace", controller_ns)
    assert agents_ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert find(rendered, "Namespace", controller_ns)["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"
    for ns in (cloud["namespace"], controller_ns):
        deny = [o for o in rendered if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == ns
                and o["spec"]["podSelector"] == {} and not o["spec"].get("ingress") and not o["spec"].get("egress")]
        assert deny, f"{ns}: no default-deny NetworkPolicy"


def test_controller_may_run_agent_pods_and_nothing_more():
    rendered = objects()
    cloud_ns = CASC["jenkins"]["clouds"][0]["kubernetes"]["namespace"]
    find(rendered, "ServiceAccount", "jenkins", "jenkins")
    roles = [o for o in rendered if o["kind"] in ("Role", "ClusterRole")]
    bindings = [o for o in rendered if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert {o["kind"] for o in roles} == {"Role"} and {o["kind"] for o in bindings} == {"RoleBinding"}, \
        "Jenkins gets no cluster-wide role"
    for role in roles:
        assert role["metadata"]["namespace"] == cloud_ns
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], f"Role {role['metadata']['name']}: wildcard in {key}"
            assert not {"secrets", "serviceaccounts/token"} & set(rule["resources"]), "no Secret access"
    granted = {(r, v) for role in roles for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    # What the Kubernetes plugin does: start, watch and delete pods, exec into them, read their logs.
    assert {("pods", "create"), ("pods", "delete"), ("pods", "watch"), ("pods/exec", "create"),
            ("pods/log", "get")} <= granted
    (binding,) = bindings
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "jenkins", "namespace": "jenkins"}]


def cluster_secret_stores() -> dict[str, dict]:
    stores = {}
    for path in (ROOT / "apps" / "external-secrets").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "ClusterSecretStore":
                stores[doc["metadata"]["name"]] = doc
    return stores


def admitted(store: dict, namespace: str) -> bool:
    conditions = store["spec"].get("conditions")
    if not conditions:
        return True
    return any(namespace in c.get("namespaces", []) for c in conditions)


def test_every_external_secret_names_a_real_store_that_admits_its_namespace():
    stores = cluster_secret_stores()
    externals = [o for o in objects() if o["kind"] == "ExternalSecret"]
    assert {e["spec"]["target"]["name"] for e in externals} == {"jenkins-casc", "nhn-registry-push"}
    for es in externals:
        ref = es["spec"]["secretStoreRef"]
        where = f"ExternalSecret {es['metadata']['namespace']}/{es['metadata']['name']}"
        assert ref["kind"] == "ClusterSecretStore" and ref["name"] in stores, \
            f"{where}: store {ref['name']!r} does not exist (stores: {sorted(stores)})"
        assert admitted(stores[ref["name"]], es["metadata"]["namespace"]), \
            f"{where}: store {ref['name']} does not admit namespace {es['metadata']['namespace']}"


def test_the_store_check_would_catch_an_unadmitted_namespace():
    store = cluster_secret_stores()["nhn-skm"]
    assert admitted(store, "jenkins-agents") and not admitted(store, "default")
