"""Platform namespaces come from one list (apps/namespaces/namespaces.yaml): each listed namespace,
and only those, gets its Namespace, default-deny and allow-DNS objects, and the generated file
kustomize ships is what the list says now."""
from __future__ import annotations

import importlib.util

import yaml
from platform_render import ROOT, app, find

SCRIPT = ROOT / "apps" / "namespaces" / "scripts" / "render_namespaces.py"


def _renderer():
    spec = importlib.util.spec_from_file_location("render_namespaces", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


renderer = _renderer()
LISTED = [n["name"] for n in renderer.namespaces()]


def test_generated_file_is_current():
    assert renderer.main(["--check"]) == 0, "run `make namespaces`"


def test_nothing_else_is_written_by_hand_in_the_app():
    base = ROOT / "apps" / "namespaces" / "base"
    resources = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    assert resources == ["generated/namespaces.yaml"]


def test_every_listed_namespace_and_only_those_are_rendered(env):
    objects = app("namespaces", env)
    assert sorted(n["metadata"]["name"] for n in find(objects, "Namespace")) == sorted(LISTED)


def test_each_namespace_has_default_deny_and_dns_and_nothing_else(env):
    objects = app("namespaces", env)
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in find(objects, "NetworkPolicy")}
    assert policies == {(ns, name) for ns in LISTED for name in ("default-deny", "allow-dns-egress")}
    for ns in LISTED:
        (deny,) = find(objects, "NetworkPolicy", "default-deny", ns)
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        (dns,) = find(objects, "NetworkPolicy", "allow-dns-egress", ns)
        assert dns["spec"]["policyTypes"] == ["Egress"]
        assert {p["port"] for rule in dns["spec"]["egress"] for p in rule["ports"]} == {53}


def test_namespaces_are_restricted_and_never_pruned(env):
    for ns in find(app("namespaces", env), "Namespace"):
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", ns["metadata"]["name"]
        assert ns["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Delete=false"


def test_one_more_line_is_one_more_namespace_with_its_rules(tmp_path):
    source = tmp_path / "namespaces.yaml"
    source.write_text("namespaces:\n  - airflow\n  - {name: echo, podSecurity: baseline}\n")
    docs = [d for d in yaml.safe_load_all(renderer.render(source)) if d]
    assert [(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in docs] == [
        ("Namespace", "", "airflow"), ("NetworkPolicy", "airflow", "default-deny"),
        ("NetworkPolicy", "airflow", "allow-dns-egress"),
        ("Namespace", "", "echo"), ("NetworkPolicy", "echo", "default-deny"),
        ("NetworkPolicy", "echo", "allow-dns-egress")]
    assert docs[3]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
