"""Builds tiny git repositories shaped like the monorepo (clusters/, apps/*/overlays/) for the CI tool tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"
SPARK_ETL = f"{REGISTRY}/spark-etl"
CLUSTERS = ("dev", "prod")


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.invalid",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.invalid",
           "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd), "LC_ALL": "C"}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {args} failed: {proc.stderr}"
    return proc.stdout


def base_files(extra_images: int = 0, job_image: str = SPARK_ETL) -> dict[str, str]:
    """A base ConfigMap carrying the job image (as the Airflow base does) and two overlays."""
    files = {
        "Makefile": TINY_GATE_MAKEFILE,
        "apps/airflow/base/kustomization.yaml": (
            "resources:\n  - job-images.yaml\nconfigurations:\n  - image-fields.yaml\n"
        ),
        "apps/airflow/base/image-fields.yaml": (
            "images:\n  - path: data/ETL_JOB_IMAGE\n    kind: ConfigMap\n"
        ),
        "apps/airflow/base/job-images.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: airflow-job-images\n"
            f"data:\n  ETL_JOB_IMAGE: {job_image}:placeholder\n"
        ),
    }
    for cluster in CLUSTERS:
        files[f"clusters/{cluster}/kustomization.yaml"] = f"resources:\n  - ../../apps/airflow/overlays/{cluster}\n"
        extra = "".join(
            f"  - name: {REGISTRY}/extra-{i:02d}\n    newTag: v0\n" for i in range(extra_images)
        )
        files[f"apps/airflow/overlays/{cluster}/kustomization.yaml"] = (
            f"# {cluster} overlay: image pins are edited by the CI bump tool\n"
            "namespace: airflow\n"
            "resources:\n  - ../../base\n"
            "images:\n"
            f"  - name: {job_image}  # the job image the DAG submits\n"
            "    newTag: \"0000001\"\n"
            f"{extra}"
            "labels:\n  - pairs:\n      owner: data-platform\n"
        )
    return files


def make_remote(tmp: Path, extra_images: int = 0, job_image: str = SPARK_ETL,
                extra_files: dict[str, str] | None = None) -> Path:
    """A bare remote with one commit on main; returns its path."""
    seed = tmp / "seed"
    seed.mkdir()
    git(seed, "init", "--quiet", "--initial-branch=main")
    for rel, text in {**base_files(extra_images, job_image), **(extra_files or {})}.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(text)
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "seed overlays")
    remote = tmp / "remote.git"
    git(tmp, "clone", "--quiet", "--bare", str(seed), str(remote))
    return remote


def clone(remote: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "--quiet", str(remote), str(dest))
    return dest


# The tiny repos' own static gate, run by the tools as `make validate` exactly like this repository's:
# every cluster must still build with kustomize, and no rendered line may contain a text listed in
# gate/deny-<cluster>.txt (a policy the tests use to make the gate refuse a chosen edit).
TINY_GATE_MAKEFILE = """\
.PHONY: validate
validate:
\t@for dir in clusters/*/; do \\
\t  cluster=$$(basename $$dir); \\
\t  rendered=$$(kubectl kustomize $$dir) || exit 1; \\
\t  if [ -s gate/deny-$$cluster.txt ] && printf '%s\\n' "$$rendered" | grep -F -f gate/deny-$$cluster.txt >&2; then \\
\t    echo "gate: clusters/$$cluster renders a denied value" >&2; exit 1; \\
\t  fi; \\
\tdone; echo "gate: ok"
"""


def deny(work: Path, cluster: str, text: str) -> None:
    """Commit and push a gate policy: the cluster may not render `text` (so an edit that adds it fails)."""
    path = work / "gate" / f"deny-{cluster}.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text + "\n")
    git(work, "add", str(path.relative_to(work)))
    git(work, "commit", "--quiet", "-m", f"gate: {cluster} may not render {text}")
    git(work, "push", "--quiet", "origin", "HEAD:main")


def run_tool(module: str, *args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"ci_tools.{module}", *args], env=env, cwd=cwd,
                          capture_output=True, text=True)
