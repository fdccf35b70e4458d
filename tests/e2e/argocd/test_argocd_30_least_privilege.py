"""Least privilege: an Application that tries to deploy a kind or a namespace its AppProject does not
allow is refused by Argo CD, with the message saying why."""
from __future__ import annotations

import json

import pytest
from conftest import app_state, wait_for

from tools.platform.platform import MIRROR_URL

pytestmark = pytest.mark.e2e

REPO = f"{MIRROR_URL}/git/nks-mlops-gitops.git"


def application(name: str, path: str, namespace: str) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"project": "data-platform",
                     "source": {"repoURL": REPO, "targetRevision": "main", "path": path},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
                     "syncPolicy": {"automated": {"prune": False, "selfHeal": False}}}}


def refused(platform, app: dict, expected: str) -> str:
    name = app["metadata"]["name"]
    platform.kubectl("apply", "-f", "-", input=json.dumps(app))
    try:
        def message() -> str:
            status = app_state(platform, name).get("status") or {}
            texts = [c.get("message", "") for c in status.get("conditions") or []]
            operation = status.get("operationState") or {}
            texts.append(operation.get("message", ""))
            texts += [r.get("message", "") for r in (operation.get("syncResult") or {}).get("resources") or []]
            texts += [(r.get("health") or {}).get("message", "") for r in status.get("resources") or []]
            return next((t for t in texts if expected in t), "")
        try:
            return wait_for(message, f"Argo CD to refuse {name}", 120)
        except AssertionError:
            raise AssertionError(f"{name}: {json.dumps(app_state(platform, name).get('status'), indent=1)[:3000]}") from None
    finally:
        platform.kubectl("-n", "argocd", "delete", "application", name, "--wait=false", check=False)


def test_a_data_platform_app_may_not_create_cluster_scoped_objects(platform):
    # apps/namespaces renders Namespaces: cluster-scoped, which data-platform may not create. Argo CD
    # says so by kind ("resource :Namespace is not permitted in project data-platform") or, when its
    # destination check comes first, by name ("namespace airflow is not permitted in project
    # 'data-platform'"): both runs were seen.
    message = refused(platform, application("e2e-namespaces-as-data", "apps/namespaces/base", "spark"),
                      "not permitted in project")
    assert "data-platform" in message, message
    assert message.startswith(("resource :Namespace ", "namespace ")), message


def test_a_data_platform_app_may_not_deploy_to_another_namespace(platform):
    message = refused(platform, application("e2e-kube-system", "apps/spark-standalone/overlays/dev", "kube-system"),
                      "allowed destinations in project")
    assert "kube-system" in message and "data-platform" in message, message
    assert platform.kubectl("-n", "kube-system", "get", "deployment", "spark-master", check=False).returncode != 0
