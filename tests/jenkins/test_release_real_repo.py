"""`make bump`, `make promote`, `make rollback` on a clone of this repository's own overlays.

The make targets run inside the clone (its own Makefile and ci_tools) with this checkout's .venv and
.tools, so nothing is rebuilt. What Argo CD would deploy is checked by rendering with the gate's code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ci_repo_factory import clone, git

from ci_tools.overlay_images import image_names, overlay_files
from tools.gate.render import render

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"
SPARK_ETL = f"{REGISTRY}/spark-etl"
SHA = "d00d" + "2" * 36
DIGEST = "sha256:" + "7f" * 32
HUMAN = {"GIT_AUTHOR_NAME": "Alice Operator", "GIT_AUTHOR_EMAIL": "alice@example.invalid",
         "GIT_COMMITTER_NAME": "Alice Operator", "GIT_COMMITTER_EMAIL": "alice@example.invalid"}


def make(work: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    command = ["make", "-C", str(work), "--no-print-directory", f"VENV={ROOT / '.venv'}",
               f"TOOLS_DIR={ROOT / '.tools'}", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True)


def job_image(work: Path, cluster: str) -> str:
    """ETL_JOB_IMAGE as the cluster's Airflow overlay renders it: the image the DAG submits."""
    objects = render(work / "apps" / "airflow" / "overlays" / cluster)
    return next(o["data"]["ETL_JOB_IMAGE"] for o in objects
                if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("airflow-job-images"))


def test_bump_dev_promote_to_prod_then_roll_prod_back(real_clone, tmp_path, ci_env):
    remote, work = real_clone
    human = dict(ci_env, **HUMAN)
    prod_before = job_image(work, "prod")

    bumped = make(work, ci_env, "bump", f"IMAGE={SPARK_ETL}", f"TAG={SHA}", f"DIGEST={DIGEST}")  # BUMP_CLUSTERS: dev
    assert bumped.returncode == 0, bumped.stderr
    assert job_image(work, "dev") == f"{SPARK_ETL}:{SHA}@{DIGEST}"
    assert job_image(work, "prod") == prod_before

    promoted = make(work, human, "promote", "IMAGE=spark-etl", "PUSH=1")
    assert promoted.returncode == 0, promoted.stderr
    branch = f"promote/spark-etl-{SHA}"
    assert f"pushed {branch} to origin" in promoted.stdout
    review = clone(remote, tmp_path / "review")
    git(review, "switch", "--quiet", branch)
    assert job_image(review, "prod") == f"{SPARK_ETL}:{SHA}@{DIGEST}"
    listing = sorted(str(f.relative_to(review)) for f in overlay_files(review, "prod") if SPARK_ETL in image_names(f))
    assert "apps/airflow/overlays/prod/kustomization.yaml" in listing
    assert git(review, "diff", "--name-only", "main..HEAD").split() == listing  # every prod overlay, nothing else

    # The PR is merged; then prod misbehaves and is rolled back, dev keeps the new version.
    git(work, "switch", "--quiet", "main")
    git(work, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #12 from promote", branch)
    git(work, "push", "--quiet", "origin", "main")
    check = make(work, human, "release-commit-check")
    assert check.returncode == 0 and check.stdout.splitlines()[-1] == "RELEASE_COMMIT=true", check.stdout + check.stderr
    rolled = make(work, human, "rollback", "IMAGE=spark-etl", "CLUSTER=prod", "PUSH=1")
    assert rolled.returncode == 0, rolled.stderr
    assert "pushed to origin" in rolled.stdout
    final = clone(remote, tmp_path / "final")
    assert job_image(final, "prod") == prod_before
    assert job_image(final, "dev") == f"{SPARK_ETL}:{SHA}@{DIGEST}"

    # Bad input through make (make exits 2 for any failed recipe, so the message tells the cause).
    head = git(work, "rev-parse", "HEAD")
    for args, message in ((["promote", "IMAGE=spark-etl", "TO=staging"], "cluster 'staging' is unknown"),
                          (["rollback", "IMAGE=spark-etl", "CLUSTER="], "give IMAGE and CLUSTER"),
                          (["rollback", "IMAGE=airflow", "CLUSTER=prod"], "no bump of")):
        refused = make(work, human, *args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert message in refused.stderr
    assert git(work, "rev-parse", "HEAD") == head and git(work, "status", "--porcelain") == ""


@pytest.mark.slow
def test_promotion_passes_the_real_static_gate(real_clone, ci_env):
    """The default validation (`make validate`) on the promoted prod overlays of this repository."""
    _remote, work = real_clone
    assert make(work, ci_env, "bump", f"IMAGE={SPARK_ETL}", f"TAG={SHA}").returncode == 0
    promoted = make(work, dict(ci_env, **HUMAN), "promote", "IMAGE=spark-etl")
    assert promoted.returncode == 0, promoted.stderr
    assert job_image(work, "prod") == f"{SPARK_ETL}:{SHA}"
