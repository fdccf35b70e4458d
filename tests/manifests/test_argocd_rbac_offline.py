"""Who may do what in Argo CD, answered by Argo CD itself offline: `argocd admin settings rbac can`
(the local cluster's v3.2.11 binary in .tools/bin) on each cluster's rendered argocd-rbac-cm, for
the groups the IdP puts in the `groups` claim, on the Applications the cluster really has; and
`argocd admin settings validate` on the rendered argocd-cm reports SSO (OIDC) configured."""
from __future__ import annotations

import pytest
from argocd_offline import argocd, needs_argocd, offline_env, write
from platform_render import app, cluster, find, one, render

from tools.versions import read_versions

VERSION = read_versions().get("ARGOCD_LOCAL_VERSION", "v3.2.11")

pytestmark = needs_argocd


@pytest.fixture(scope="module")
def offline(tmp_path_factory) -> dict[str, str]:
    return offline_env(tmp_path_factory.mktemp("argocd-offline"))


def test_the_binary_is_the_local_clusters_version(offline):
    out = argocd(offline, "version", "--client", "--short")
    assert out.stdout.startswith(f"argocd: {VERSION}"), out.stdout + out.stderr


def app_in(env: str, project: str) -> str:
    """project/app of one Application of that project in the cluster."""
    names = sorted(a["metadata"]["name"] for a in find(cluster(env), "Application") if a["spec"]["project"] == project)
    assert names, f"{env}: no Application in project {project}"
    return f"{project}/{names[0]}"


# subject (an IdP group, or a user no group maps), action, resource, project -> allowed
TABLE = [
    ("data-platform-engineers", "get", "applications", "data-platform", True),
    ("data-platform-engineers", "sync", "applications", "data-platform", True),
    ("data-platform-engineers", "action/apps/Deployment/restart", "applications", "data-platform", True),
    ("data-platform-engineers", "get", "logs", "data-platform", True),
    ("data-platform-engineers", "delete", "applications", "data-platform", False),
    ("data-platform-engineers", "update", "applications", "data-platform", False),
    ("data-platform-engineers", "override", "applications", "data-platform", False),
    ("data-platform-engineers", "get", "applications", "platform-infra", True),   # policy.default readonly
    ("data-platform-engineers", "sync", "applications", "platform-infra", False),
    ("data-platform-engineers", "delete", "applications", "platform-infra", False),
    ("data-platform-engineers", "get", "logs", "platform-infra", True),  # built-in role:readonly reads logs
    ("mlops-platform-admins", "sync", "applications", "platform-infra", True),
    ("mlops-platform-admins", "delete", "applications", "platform-infra", True),
    ("mlops-platform-admins", "delete", "applications", "data-platform", True),
    ("someone-else", "get", "applications", "data-platform", True),
    ("someone-else", "sync", "applications", "data-platform", False),
]


@pytest.mark.parametrize("subject, action, resource, project, allowed", TABLE,
                         ids=[f"{s}-{a}-{r}-{p}" for s, a, r, p, _ in TABLE])
def test_rbac_can(env, offline, tmp_path, subject, action, resource, project, allowed):
    rbac = write(tmp_path, one(app("argocd", env), "ConfigMap", "argocd-rbac-cm", "argocd"))
    out = argocd(offline, "admin", "settings", "rbac", "can", subject, action, resource, app_in(env, project),
                 "--policy-file", str(rbac))
    answer = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr
    assert (out.returncode, answer) == ((0, "Yes") if allowed else (1, "No")), out.stderr


def test_rbac_policy_validates(env, offline, tmp_path):
    rbac = write(tmp_path, one(app("argocd", env), "ConfigMap", "argocd-rbac-cm", "argocd"))
    out = argocd(offline, "admin", "settings", "rbac", "validate", "--policy-file", str(rbac))
    assert out.returncode == 0, out.stdout + out.stderr


def test_settings_validate_reports_sso_configured(env, offline, tmp_path):
    cm = write(tmp_path, one(app("argocd", env), "ConfigMap", "argocd-cm", "argocd"))
    out = argocd(offline, "admin", "settings", "validate", "--argocd-cm-path", str(cm))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OIDC is configured" in out.stdout, out.stdout


def test_without_oidc_config_nobody_could_log_in(offline, tmp_path):
    """What issue 13 found: the base argocd-cm alone (admin off, no SSO) is reported as such, so the
    check above really distinguishes the two."""
    cm = write(tmp_path, one(render("apps/argocd/base"), "ConfigMap", "argocd-cm", "argocd"))
    out = argocd(offline, "admin", "settings", "validate", "--argocd-cm-path", str(cm))
    assert "SSO is not configured" in out.stdout, out.stdout
