"""The README workflows "Add a platform app" and "Add a cluster", done on a copy of the repository:
each writes at most three files, and the static gate passes on the result with the new app in every
cluster, or with the new cluster checked like the others."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from platform_render import ROOT

from tools.gate import paths

MAX_FILES = 3
# What the gate reads: the manifests, the policies, its own code and the yamllint config.
COPIED = ("apps", "clusters", "policies", "tools/gate", "tools/clusters.py", "tools/versions.py",
          "tools/versions.env", "tools/__init__.py", ".yamllint.yaml")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (paths.TOOLS_DIR / "bin" / "kustomize").is_file(), reason="run `make setup` first")]

NEW_APP = {
    "apps/echo/application.yaml": """\
# A tiny HTTP echo service for the data team (the workflow test's example app).
project: data-platform
namespace: spark
wave: "1"
sameInEveryCluster: true
""",
    "apps/echo/base/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - echo.yaml
labels:
  - pairs:
      app.kubernetes.io/name: echo
      app.kubernetes.io/part-of: mlops-platform
      owner: data-platform
    includeTemplates: true
components:
  - ../../components/container-defaults
""",
    "apps/echo/base/echo.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  namespace: spark
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: echo}
  template:
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: echo
          image: registry.k8s.io/git-sync/git-sync:v4.4.2
          args: [--http-bind=:8080]
          ports:
            - {name: http, containerPort: 8080}
          readinessProbe:
            httpGet: {path: /, port: http}
          livenessProbe:
            httpGet: {path: /, port: http}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {cpu: 100m, memory: 64Mi}
""",
}

NEW_CLUSTER = {
    # A staging cluster: prod's overlays, no extra components, every app.
    "clusters/staging/kustomization.yaml": (ROOT / "clusters/prod/kustomization.yaml").read_text()
    .replace("cluster=prod", "cluster=staging")
    .replace("rootPath=clusters/prod", "rootPath=clusters/staging")
    .replace("the prod cluster", "the staging cluster"),
    "policies/config/staging.yaml": (ROOT / "policies/config/prod.yaml").read_text(),
}


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for rel in COPIED:
        source, target = ROOT / rel, root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    return root


def gate(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TOOLS_DIR=str(paths.TOOLS_DIR), RUN_DIR=str(root / ".run"), PYTHONPATH=str(root))
    return subprocess.run([sys.executable, "-m", "tools.gate", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


def scaffold(root: Path, files: dict[str, str]) -> list[str]:
    """Write the workflow's files; returns the repo-relative paths that are new or changed."""
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and before.get(p) != p.read_bytes())


def test_add_a_platform_app_is_three_files_and_every_cluster_runs_it(repo_copy):
    touched = scaffold(repo_copy, NEW_APP)
    assert len(touched) <= MAX_FILES, touched
    result = gate(repo_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for cluster in paths.clusters(repo_copy):
        assert f"gate: {cluster}: " in result.stdout
    # The ApplicationSet made an Application for it in every cluster, and the gate checked its Deployment.
    from tools.gate.appset import generated_applications
    from tools.gate.render import render
    for cluster in paths.clusters(repo_copy):
        apps = generated_applications(render(repo_copy / "clusters" / cluster), repo_copy)
        assert "echo" in {a["metadata"]["name"] for a in apps}, cluster


def test_add_a_cluster_is_at_most_three_files_and_passes_the_same_gate(repo_copy):
    touched = scaffold(repo_copy, NEW_CLUSTER)
    assert len(touched) <= MAX_FILES, touched
    assert paths.clusters(repo_copy) == sorted([*paths.clusters(ROOT), "staging"])
    result = gate(repo_copy, "--cluster", "staging")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "gate: staging: " in result.stdout and " 0 failures" in result.stdout


def test_the_gate_on_a_copy_still_fails_a_broken_app(repo_copy):
    """So the two passes above mean something: the same copy and command refuse a bad manifest."""
    broken = dict(NEW_APP)
    # Without the container defaults the echo container has no security context at all.
    broken["apps/echo/base/kustomization.yaml"] = NEW_APP["apps/echo/base/kustomization.yaml"].replace(
        "components:\n  - ../../components/container-defaults\n", "")
    scaffold(repo_copy, broken)
    result = gate(repo_copy, "--cluster", "dev")
    assert result.returncode == 1 and "Deployment spark/echo" in result.stdout, result.stdout[-2000:]
