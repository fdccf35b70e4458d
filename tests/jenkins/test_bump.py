"""The bump tool against real git: a bare remote and clones in a temp dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ci_repo_factory import SPARK_ETL, clone, deny, git, make_remote, run_tool

DIGEST = "sha256:" + "ab" * 32
OVERLAY = "apps/airflow/overlays/{}/kustomization.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path]:
    remote = make_remote(tmp_path)
    return remote, clone(remote, tmp_path / "work")


def images_of(work: Path, cluster: str) -> dict[str, dict]:
    data = yaml.safe_load((work / OVERLAY.format(cluster)).read_text())
    return {entry["name"]: entry for entry in data["images"]}


def remote_head(remote: Path) -> str:
    return git(remote, "rev-parse", "main").strip()


def test_happy_path_commits_as_bot_and_pushes(repo, ci_env):
    remote, work = repo
    before = remote_head(remote)
    result = run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "1a2b3c4",
                      "--digest", DIGEST, "--clusters", "dev,prod", env=ci_env)
    assert result.returncode == 0, result.stderr
    assert "bumped" in result.stdout

    # The remote moved by exactly one bot commit carrying the skip marker and the trailer.
    log = git(remote, "log", "--format=%H%x00%an%x00%cn%x00%B%x01", f"{before}..main").strip("\x01\n").split("\x01")
    assert len(log) == 1
    _sha, author, committer, message = log[0].strip().split("\x00")
    assert author == committer == "mlops-ci-bot"
    assert "[ci skip]" in message.splitlines()[0]
    assert f"Bumped-Image: {SPARK_ETL}:1a2b3c4@{DIGEST}" in message
    changed = git(remote, "diff", "--name-only", f"{before}..main").split()
    assert changed == [OVERLAY.format("dev"), OVERLAY.format("prod")]

    for cluster in ("dev", "prod"):
        assert images_of(work, cluster)[SPARK_ETL] == {"name": SPARK_ETL, "newTag": "1a2b3c4", "digest": DIGEST}
        text = (work / OVERLAY.format(cluster)).read_text()
        assert "# the job image the DAG submits" in text  # comments survive the edit
        rendered = subprocess.run(["kubectl", "kustomize", str(work / f"clusters/{cluster}")],
                                  capture_output=True, text=True, env=ci_env, check=True).stdout
        assert f"ETL_JOB_IMAGE: {SPARK_ETL}:1a2b3c4@{DIGEST}" in rendered


def test_only_chosen_cluster_changes(repo, ci_env):
    remote, work = repo
    result = run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "0000002",
                      "--clusters", "dev", env=ci_env)
    assert result.returncode == 0, result.stderr
    fresh = clone(remote, work.parent / "check")
    assert images_of(fresh, "dev")[SPARK_ETL]["newTag"] == "0000002"
    assert images_of(fresh, "prod")[SPARK_ETL]["newTag"] == "0000001"
    # An all-digit tag must stay a string, or kustomize rejects the file.
    assert '"0000002"' in (fresh / OVERLAY.format("dev")).read_text()


def test_tag_only_bump_drops_a_stale_digest(repo, ci_env):
    _remote, work = repo
    assert run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "v1", "--digest", DIGEST,
                    env=ci_env).returncode == 0
    assert run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "v2", env=ci_env).returncode == 0
    assert images_of(work, "prod")[SPARK_ETL] == {"name": SPARK_ETL, "newTag": "v2"}


def test_same_values_again_is_a_no_op(repo, ci_env):
    remote, work = repo
    args = ("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "v7")
    assert run_tool(*args, env=ci_env).returncode == 0
    head = remote_head(remote)
    again = run_tool(*args, env=ci_env)
    assert again.returncode == 0 and "already up to date" in again.stdout
    assert remote_head(remote) == head


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "mlops-kr1-registry.container.nhncloud.com/mlops-platform/no-such-image", "--tag", "v1"],
         "is not in the `images:` list of any overlay of cluster 'dev'"),
        (["--image", SPARK_ETL, "--tag", "-bad tag"], "tag '-bad tag' is malformed"),
        (["--image", SPARK_ETL, "--tag", "latest"], "tag 'latest' is not allowed"),
        (["--image", SPARK_ETL, "--digest", "sha256:1234"], "digest 'sha256:1234' is malformed"),
        (["--image", SPARK_ETL, "--digest", "md5:" + "a" * 32], "is malformed"),
        (["--image", SPARK_ETL, "--tag", "v1", "--clusters", "dev,staging"], "cluster 'staging' is unknown"),
        (["--image", "Not A Name", "--tag", "v1"], "not a valid image name"),
        (["--image", SPARK_ETL], "give a tag, a digest or both"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(repo, ci_env, args, message):
    remote, work = repo
    before_remote, before_local = remote_head(remote), git(work, "rev-parse", "HEAD")
    before_files = {c: (work / OVERLAY.format(c)).read_text() for c in ("dev", "prod")}
    result = run_tool("bump", "--repo", str(work), *args, env=ci_env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert remote_head(remote) == before_remote
    assert git(work, "rev-parse", "HEAD") == before_local
    assert git(work, "status", "--porcelain") == ""
    assert {c: (work / OVERLAY.format(c)).read_text() for c in ("dev", "prod")} == before_files


def test_dirty_working_tree_is_refused(repo, ci_env):
    remote, work = repo
    overlay = work / OVERLAY.format("dev")
    overlay.write_text(overlay.read_text() + "# local edit\n")
    before = overlay.read_text()
    result = run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "v1", env=ci_env)
    assert result.returncode == 2
    assert "working tree is dirty" in result.stderr and OVERLAY.format("dev") in result.stderr
    assert overlay.read_text() == before
    assert len(git(remote, "log", "--oneline", "main").splitlines()) == 1


def test_failed_validation_restores_files_and_pushes_nothing(repo, ci_env):
    remote, work = repo
    deny(work, "prod", f"{SPARK_ETL}:v9")  # the repo's gate (`make validate`) refuses this image in prod
    before = remote_head(remote)
    result = run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "v9", env=ci_env)
    assert result.returncode == 1
    assert "validation `make validate` failed" in result.stderr
    assert "gate: clusters/prod renders a denied value" in result.stderr
    assert git(work, "status", "--porcelain") == ""
    assert remote_head(remote) == before


def test_bump_from_build_records(repo, ci_env, tmp_path):
    remote, work = repo
    records = tmp_path / "records"
    records.mkdir()
    (records / "spark-etl.json").write_text(f'{{"image": "{SPARK_ETL}", "tag": "feedbee", "digest": "{DIGEST}"}}')
    summary = tmp_path / "summary.txt"
    result = run_tool("bump", "--repo", str(work), "--from-dir", str(records), "--summary-file", str(summary),
                      env=ci_env)
    assert result.returncode == 0, result.stderr
    assert summary.read_text() == f"Bumped-Image: {SPARK_ETL}:feedbee@{DIGEST}\n"
    assert images_of(clone(remote, tmp_path / "fresh"), "prod")[SPARK_ETL]["digest"] == DIGEST


def test_broken_build_record_is_bad_input(repo, ci_env, tmp_path):
    _remote, work = repo
    records = tmp_path / "records"
    records.mkdir()
    (records / "spark-etl.json").write_text('{"tag": "x"}')
    result = run_tool("bump", "--repo", str(work), "--from-dir", str(records), env=ci_env)
    assert result.returncode == 2
    assert "spark-etl.json: not an image build record" in result.stderr


def test_stale_clone_rebases_onto_an_unrelated_upstream_commit(repo, ci_env, tmp_path):
    remote, work = repo
    other = clone(remote, tmp_path / "other")
    (other / "dags").mkdir()
    (other / "dags" / "etl.py").write_text("# a DAG change merged meanwhile\n")
    git(other, "add", "dags/etl.py")
    git(other, "commit", "--quiet", "-m", "dags: new task")
    git(other, "push", "--quiet", "origin", "main")

    result = run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "v3", env=ci_env)
    assert result.returncode == 0, result.stderr
    assert "push attempts 2" in result.stdout  # rejected once, fetched, rebased, validated, pushed
    log = git(remote, "log", "--format=%cn %s", "main").splitlines()
    assert [line.split()[0] for line in log] == ["mlops-ci-bot", "dev", "dev"]
    assert git(remote, "show", "main:dags/etl.py") == "# a DAG change merged meanwhile\n"


def test_rebased_result_that_fails_validation_is_not_pushed(repo, ci_env, tmp_path):
    remote, work = repo
    other = clone(remote, tmp_path / "other")
    deny(other, "dev", f"{SPARK_ETL}:v4")  # merged meanwhile: the stale clone passes, the rebased tree fails
    upstream = remote_head(remote)

    result = run_tool("bump", "--repo", str(work), "--image", SPARK_ETL, "--tag", "v4", env=ci_env)
    assert result.returncode == 1
    assert "gate: clusters/dev renders a denied value" in result.stderr
    assert remote_head(remote) == upstream
