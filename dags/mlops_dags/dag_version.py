"""Task pods run the DAG code their run was scheduled from, not whatever `main` is at pod start.

git-sync (v4, and our local stand-in) checks each commit out as GITSYNC_ROOT/.worktrees/<sha> and
points the DAG folder's link at it, so a DAG file parsed by the dag-processor knows its commit from
its own resolved path. The DAG puts that commit into every task's `executor_config`; the
KubernetesExecutor merges the pod override into the pod template by init container name, so the
task pod's one-time git-sync fetches exactly that commit (GITSYNC_REF in `env` wins over the
ConfigMap's `main` in `envFrom`). The serialized DAG carries the override, so a new commit is a new
DAG version and runs already scheduled keep theirs.

Outside git-sync (make run, tests from a checkout) there is no commit in the path and nothing is
overridden.
"""
from __future__ import annotations

import re
from pathlib import Path

from mlops_dags.settings import REPO_ROOT

# apps/airflow/base/config/pod_template_file.yaml names its one-time git-sync init container so;
# tests/manifests check the rendered template still does.
GIT_SYNC_INIT_CONTAINER = "git-sync-init"
# Seen on the task pod through the API server (which commit it was pinned to).
COMMIT_ANNOTATION = "mlops-platform/dag-commit"
_SHA = re.compile(r"[0-9a-f]{40}")


def checkout_commit(repo_root: Path = REPO_ROOT) -> str | None:
    """The commit git-sync checked this repository out at, or None when it is not a git-sync tree."""
    root = Path(repo_root).resolve()
    if root.parent.name == ".worktrees" and _SHA.fullmatch(root.name):
        return root.name
    return None


def executor_config(commit: str | None) -> dict:
    """A KubernetesExecutor pod override pinning the task pod's git-sync to `commit` ({} for None)."""
    if commit is None:
        return {}
    if not _SHA.fullmatch(commit):
        raise ValueError(f"dag_version: not a full commit sha: {commit!r}")
    from kubernetes.client import models as k8s  # the cncf.kubernetes provider's dependency

    return {"pod_override": k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(annotations={COMMIT_ANNOTATION: commit}),
        spec=k8s.V1PodSpec(
            # Merged with the template's first container by position: only the name is given.
            containers=[k8s.V1Container(name="base")],
            init_containers=[k8s.V1Container(
                name=GIT_SYNC_INIT_CONTAINER, env=[k8s.V1EnvVar(name="GITSYNC_REF", value=commit)])],
        ),
    )}
