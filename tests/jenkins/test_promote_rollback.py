"""`make promote` and `make rollback` against real git: a bare remote and clones in a temp dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ci_repo_factory import SPARK_ETL, clone, deny, git, make_remote, run_tool

DIGEST = "sha256:" + "cd" * 32
OVERLAY = "apps/airflow/overlays/{}/kustomization.yaml"
HUMAN = {"GIT_AUTHOR_NAME": "Alice Operator", "GIT_AUTHOR_EMAIL": "alice@example.invalid",
         "GIT_COMMITTER_NAME": "Alice Operator", "GIT_COMMITTER_EMAIL": "alice@example.invalid"}


@pytest.fixture
def human_env(ci_env) -> dict[str, str]:
    return dict(ci_env, **HUMAN)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path]:
    remote = make_remote(tmp_path)
    return remote, clone(remote, tmp_path / "work")


def entry(work: Path, cluster: str, rel: str = OVERLAY) -> dict:
    data = yaml.safe_load((work / rel.format(cluster)).read_text())
    return next(e for e in data["images"] if e["name"] == SPARK_ETL)


def bot_bump(work: Path, env: dict, clusters: str, tag: str, digest: str | None = None) -> str:
    """A CI bump (bot commit, pushed to main), as the main pipeline makes it; returns its SHA."""
    args = ["--repo", str(work), "--image", SPARK_ETL, "--tag", tag, "--clusters", clusters]
    result = run_tool("bump", *args, *(["--digest", digest] if digest else []), env=env)
    assert result.returncode == 0, result.stderr
    return git(work, "rev-parse", "HEAD").strip()


def state(remote: Path, work: Path) -> tuple:
    """Everything that must stay put when a request is refused."""
    return (git(remote, "for-each-ref", "--format=%(refname) %(objectname)"),
            git(work, "for-each-ref", "--format=%(refname) %(objectname)"),
            git(work, "rev-parse", "--abbrev-ref", "HEAD"),
            git(work, "status", "--porcelain"),
            {c: (work / OVERLAY.format(c)).read_text() for c in ("dev", "prod")})


def rendered_job_image(work: Path, cluster: str, env: dict) -> str:
    out = subprocess.run(["kubectl", "kustomize", str(work / f"clusters/{cluster}")], env=env,
                         capture_output=True, text=True, check=True).stdout
    return next(line.split(": ", 1)[1] for line in out.splitlines() if "ETL_JOB_IMAGE:" in line)


# --- promote -------------------------------------------------------------------------------------

def test_promote_copies_dev_version_to_prod_on_a_reviewable_branch(repo, ci_env, human_env):
    remote, work = repo
    bot_bump(work, ci_env, "dev", "7a7a7a7", DIGEST)
    main_before = git(remote, "rev-parse", "main").strip()

    result = run_tool("promote", "--repo", str(work), "--image", "spark-etl", "--push", env=human_env)
    assert result.returncode == 0, result.stderr
    branch = "promote/spark-etl-7a7a7a7"
    assert f"on branch {branch}" in result.stdout and "open a pull request" in result.stdout

    # prod now holds exactly what dev holds; dev is untouched; only prod's overlay changed.
    assert entry(work, "prod") == entry(work, "dev") == {"name": SPARK_ETL, "newTag": "7a7a7a7", "digest": DIGEST}
    assert git(work, "diff", "--name-only", "main..HEAD").split() == [OVERLAY.format("prod")]
    assert rendered_job_image(work, "prod", ci_env) == f"{SPARK_ETL}:7a7a7a7@{DIGEST}"

    # A person's commit for review: their name, no skip marker, names image, version and both clusters.
    author, committer, message = git(work, "log", "-1", "--format=%an%x00%cn%x00%B").split("\x00")
    assert author == committer == "Alice Operator"
    assert "[ci skip]" not in message
    assert message.splitlines()[0] == "Promote spark-etl 7a7a7a7@sha256:cdcdcdcdcdcd from dev to prod"
    assert f"Promoted-Image: {SPARK_ETL}:7a7a7a7@{DIGEST}" in message
    # Pushed as its own branch; main is left to the pull request.
    assert git(remote, "rev-parse", branch).strip() == git(work, "rev-parse", "HEAD").strip()
    assert git(remote, "rev-parse", "main").strip() == main_before
    # The CI skip check builds it (it is not a bot commit).
    assert run_tool("skip", "--repo", str(work), env=ci_env).stdout.splitlines()[-1] == "BOT_COMMIT=false"


def test_promote_without_push_only_commits_locally(repo, ci_env, human_env):
    remote, work = repo
    bot_bump(work, ci_env, "dev", "v5")
    result = run_tool("promote", "--repo", str(work), "--image", SPARK_ETL, "--from", "dev", "--to", "prod",
                      env=human_env)
    assert result.returncode == 0, result.stderr
    assert "not pushed" in result.stdout and "git push -u origin promote/spark-etl-v5" in result.stdout
    assert "promote/spark-etl-v5" not in git(remote, "branch", "--list")
    assert entry(work, "prod") == {"name": SPARK_ETL, "newTag": "v5"}


def test_promote_is_a_no_op_when_prod_already_runs_that_version(repo, human_env):
    remote, work = repo
    before = state(remote, work)
    result = run_tool("promote", "--repo", str(work), "--image", "spark-etl", env=human_env)
    assert result.returncode == 0, result.stderr
    assert "prod already runs spark-etl 0000001" in result.stdout and "nothing to promote" in result.stdout
    assert state(remote, work) == before


def _second_dev_overlay(tag: str) -> dict[str, str]:
    """Another app's dev overlay listing the job image too (as a Spark app would)."""
    return {"apps/spark/overlays/dev/kustomization.yaml": (
        "resources: []\nimages:\n"
        f"  - name: {SPARK_ETL}\n    newTag: \"{tag}\"\n")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "no-such-image"], "image 'no-such-image' is not in the `images:` list of any overlay of cluster 'dev'"),
        (["--image", "spark-etl", "--to", "staging"], "cluster 'staging' is unknown"),
        (["--image", "spark-etl", "--from", "qa"], "cluster 'qa' is unknown"),
        (["--image", "spark-etl", "--to", "dev"], "--from and --to are both 'dev'"),
        (["--image", "Not An Image"], "not a valid image name"),
    ],
)
def test_promote_bad_input_exits_2_and_changes_nothing(repo, human_env, args, message):
    remote, work = repo
    before = state(remote, work)
    result = run_tool("promote", "--repo", str(work), *args, env=human_env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert state(remote, work) == before


def test_promote_refuses_when_dev_overlays_disagree(tmp_path, ci_env, human_env):
    remote = make_remote(tmp_path, extra_files=_second_dev_overlay("0000009"))
    work = clone(remote, tmp_path / "work")
    before = state(remote, work)
    result = run_tool("promote", "--repo", str(work), "--image", "spark-etl", env=human_env)
    assert result.returncode == 2
    assert "the overlays of cluster 'dev' disagree on" in result.stderr
    assert "apps/airflow/overlays/dev/kustomization.yaml: 0000001" in result.stderr
    assert "apps/spark/overlays/dev/kustomization.yaml: 0000009" in result.stderr
    assert state(remote, work) == before


def test_promote_refuses_a_dirty_tree_and_the_bot_identity(repo, ci_env, human_env):
    remote, work = repo
    bot_bump(work, ci_env, "dev", "v6")
    before = state(remote, work)
    as_bot = dict(human_env, GIT_AUTHOR_NAME="mlops-ci-bot")
    result = run_tool("promote", "--repo", str(work), "--image", "spark-etl", env=as_bot)
    assert result.returncode == 2 and "the git author is the CI bot" in result.stderr
    assert state(remote, work) == before

    (work / "notes.txt").write_text("scratch\n")
    result = run_tool("promote", "--repo", str(work), "--image", "spark-etl", env=human_env)
    assert result.returncode == 2 and "working tree is dirty (notes.txt)" in result.stderr


def test_promote_that_fails_the_gate_leaves_no_branch(repo, ci_env, human_env):
    remote, work = repo
    deny(work, "prod", f"{SPARK_ETL}:v8")  # dev may run v8, the gate refuses it in prod
    bot_bump(work, ci_env, "dev", "v8")
    before = state(remote, work)
    result = run_tool("promote", "--repo", str(work), "--image", "spark-etl", env=human_env)
    assert result.returncode == 1
    assert "gate: clusters/prod renders a denied value" in result.stderr
    assert state(remote, work) == before


# --- rollback ------------------------------------------------------------------------------------

def test_rollback_restores_only_that_cluster_and_steps_back_one_bump_each_time(repo, ci_env, human_env):
    remote, work = repo
    first = bot_bump(work, ci_env, "dev,prod", "v2")
    second = bot_bump(work, ci_env, "dev,prod", "v3", DIGEST)

    result = run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod", "--push",
                      env=human_env)
    assert result.returncode == 0, result.stderr
    assert "pushed to origin" in result.stdout
    fresh = clone(remote, work.parent / "after-first")
    assert entry(fresh, "prod") == {"name": SPARK_ETL, "newTag": "v2"}  # the digest of v3 is gone too
    assert entry(fresh, "dev") == {"name": SPARK_ETL, "newTag": "v3", "digest": DIGEST}
    assert git(fresh, "diff", "--name-only", f"{second}..main").split() == [OVERLAY.format("prod")]
    assert rendered_job_image(fresh, "prod", ci_env) == f"{SPARK_ETL}:v2"
    author, message = git(fresh, "log", "-1", "--format=%an%x00%B", "main").split("\x00")
    assert author == "Alice Operator"
    assert message.splitlines()[0] == f"Roll back spark-etl in prod to v2 (reverts {second[:12]})"
    assert f"Reverts: {second}" in message

    # Again: the bump already rolled back is skipped, so prod goes one more version back.
    result = run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod", env=human_env)
    assert result.returncode == 0, result.stderr
    assert f"reverts {first[:12]}" in result.stdout and "not pushed" in result.stdout
    assert entry(work, "prod") == {"name": SPARK_ETL, "newTag": "0000001"}
    assert entry(work, "dev")["newTag"] == "v3"

    # Nothing older than the seed: a clear refusal, nothing changed.
    before = state(remote, work)
    result = run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod", env=human_env)
    assert result.returncode == 2
    assert "no bump of" in result.stderr and "'prod' found" in result.stderr
    assert state(remote, work) == before


def test_rollback_reverts_a_merged_promotion(repo, ci_env, human_env):
    remote, work = repo
    bot_bump(work, ci_env, "dev", "v4")
    assert run_tool("promote", "--repo", str(work), "--image", "spark-etl", env=human_env).returncode == 0
    promoted = git(work, "rev-parse", "HEAD").strip()
    git(work, "switch", "--quiet", "main")
    git(work, "merge", "--quiet", "--no-ff", "-m", "Merge pull request: promote spark-etl v4", "promote/spark-etl-v4")

    result = run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod", env=human_env)
    assert result.returncode == 0, result.stderr
    assert f"to 0000001 (reverts {promoted[:12]})" in result.stdout
    assert entry(work, "prod")["newTag"] == "0000001" and entry(work, "dev")["newTag"] == "v4"


def test_rollback_is_a_no_op_when_the_cluster_already_runs_the_previous_version(repo, ci_env, human_env):
    remote, work = repo
    bump_sha = bot_bump(work, ci_env, "prod", "v2")
    # Someone set prod back by hand (no rollback trailer): the last bump is already undone.
    overlay = work / OVERLAY.format("prod")
    overlay.write_text(overlay.read_text().replace("newTag: v2", 'newTag: "0000001"'))
    git(work, "commit", "--quiet", "-am", "prod: back to 0000001 by hand")
    before = state(remote, work)
    result = run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod", env=human_env)
    assert result.returncode == 0, result.stderr
    assert f"prod already runs spark-etl 0000001, the version before {bump_sha[:12]}" in result.stdout
    assert state(remote, work) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "spark-etl", "--cluster", "staging"], "cluster 'staging' is unknown"),
        (["--image", "no-such-image", "--cluster", "prod"], "image 'no-such-image' is not in the `images:` list"),
        (["--image", "spark-etl", "--cluster", "dev"], "no bump of"),
    ],
)
def test_rollback_bad_input_exits_2_and_changes_nothing(repo, ci_env, human_env, args, message):
    remote, work = repo
    bot_bump(work, ci_env, "prod", "v2")  # prod has a bump to undo, dev has none
    before = state(remote, work)
    result = run_tool("rollback", "--repo", str(work), *args, env=human_env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert state(remote, work) == before


def test_rollback_refuses_a_dirty_tree(repo, ci_env, human_env):
    remote, work = repo
    bot_bump(work, ci_env, "prod", "v2")
    overlay = work / OVERLAY.format("prod")
    overlay.write_text(overlay.read_text() + "# local edit\n")
    result = run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod", env=human_env)
    assert result.returncode == 2
    assert "working tree is dirty" in result.stderr and OVERLAY.format("prod") in result.stderr
    assert entry(work, "prod")["newTag"] == "v2"


def test_rollback_that_fails_the_gate_restores_the_files(repo, ci_env, human_env):
    remote, work = repo
    bot_bump(work, ci_env, "prod", "v2")
    deny(work, "prod", f"{SPARK_ETL}:0000001")  # the version the rollback would restore is refused now
    before = state(remote, work)
    result = run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod", env=human_env)
    assert result.returncode == 1 and "gate: clusters/prod renders a denied value" in result.stderr
    assert state(remote, work) == before


# --- the main pipeline's release check --------------------------------------------------------------

def test_release_check_knows_promotions_and_rollbacks_from_other_commits(repo, ci_env, human_env):
    remote, work = repo

    def release(rev: str = "HEAD") -> bool:
        result = run_tool("skip", "--release", "--repo", str(work), "--rev", rev, env=ci_env)
        assert result.returncode == 0, result.stderr
        answer = result.stdout.splitlines()[-1]
        assert answer in ("RELEASE_COMMIT=true", "RELEASE_COMMIT=false"), result.stdout
        return answer == "RELEASE_COMMIT=true"

    assert not release()  # the seed: a regular commit
    bot_bump(work, ci_env, "dev", "v4")
    assert not release()  # a bot bump is skipped by ci-skip-check, not a release
    assert run_tool("promote", "--repo", str(work), "--image", "spark-etl", env=human_env).returncode == 0
    git(work, "switch", "--quiet", "main")
    git(work, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #7", "promote/spark-etl-v4")
    assert release()  # the merge brings only the promotion
    assert run_tool("rollback", "--repo", str(work), "--image", "spark-etl", "--cluster", "prod",
                    env=human_env).returncode == 0
    assert release()  # a rollback commit

    # A branch mixing a promotion with a code change is an ordinary build.
    git(work, "switch", "--quiet", "-c", "mixed")
    (work / "dags").mkdir()
    (work / "dags" / "etl.py").write_text("# new task\n")
    git(work, "add", "dags/etl.py")
    git(work, "commit", "--quiet", "-m", "dags: new task")
    git(work, "switch", "--quiet", "main")
    git(work, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #8", "mixed")
    assert not release()
