"""`images` outside a kaniko container, and the bot-commit check that stops build loops."""

from __future__ import annotations

from ci_repo_factory import clone, git, make_remote, run_tool

DOCKERFILES = {"jobs/images/spark-etl/Dockerfile": "FROM scratch\n", "jobs/images/airflow/Dockerfile": "FROM scratch\n"}
SHA = "0123456789abcdef0123456789abcdef01234567"


def test_build_without_kaniko_prints_the_plan_and_exits_3(tmp_path, ci_env):
    work = clone(make_remote(tmp_path, extra_files=DOCKERFILES), tmp_path / "work")
    result = run_tool("images", "build", "--repo", str(work), "--tag", SHA, "--records", str(tmp_path / "r"),
                      "--executor", str(tmp_path / "no-kaniko"), env=ci_env)
    assert result.returncode == 3
    registry = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"
    assert result.stdout.splitlines() == [
        f"plan: jobs/images/airflow/Dockerfile -> {registry}/airflow:{SHA}",
        f"plan: jobs/images/spark-etl/Dockerfile -> {registry}/spark-etl:{SHA}",
    ]
    assert "kaniko executor" in result.stderr and "nothing was built or pushed" in result.stderr
    assert not list((tmp_path / "r").glob("*.json"))


def test_bad_tag_and_missing_dockerfiles_are_bad_input(tmp_path, ci_env):
    work = clone(make_remote(tmp_path, extra_files=DOCKERFILES), tmp_path / "work")
    bad = run_tool("images", "plan", "--repo", str(work), "--tag", "latest", env=ci_env)
    assert bad.returncode == 2 and "tag 'latest' is not allowed" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = run_tool("images", "plan", "--repo", str(empty), "--tag", SHA, env=ci_env)
    assert none.returncode == 2 and "no <name>/Dockerfile found" in none.stderr


def test_bot_commits_are_skipped_and_human_commits_built(tmp_path, ci_env):
    remote = make_remote(tmp_path)
    work = clone(remote, tmp_path / "work")
    human = run_tool("skip", "--repo", str(work), env=ci_env)
    assert human.returncode == 0 and "build: HEAD is a regular commit by dev" in human.stdout
    assert human.stdout.splitlines()[-1] == "BOT_COMMIT=false"

    bump = run_tool("bump", "--repo", str(work), "--image",
                    "mlops-kr1-registry.container.nhncloud.com/mlops-platform/spark-etl", "--tag", "v2", env=ci_env)
    assert bump.returncode == 0, bump.stderr
    bot = run_tool("skip", "--repo", str(work), env=ci_env)
    assert bot.returncode == 0 and "[ci skip]" in bot.stdout
    assert bot.stdout.splitlines()[-1] == "BOT_COMMIT=true"

    # A human commit that merely mentions the marker in its body is treated the same (Jenkins' convention).
    (work / "README").write_text("x\n")
    git(work, "add", "README")
    git(work, "commit", "--quiet", "-m", "docs\n\nmention [ci skip] on purpose")
    assert run_tool("skip", "--repo", str(work), env=ci_env).stdout.splitlines()[-1] == "BOT_COMMIT=true"


def test_skip_checks_that_cannot_decide_fail_without_an_answer(tmp_path, ci_env):
    """Fail closed: no answer line, non-zero exit, so the pipeline stops instead of guessing."""
    not_a_repo = tmp_path / "plain"
    not_a_repo.mkdir()
    for args in ([], ["--release"]):
        result = run_tool("skip", *args, "--repo", str(not_a_repo), env=ci_env)
        assert result.returncode == 1, result.stdout
        assert "skip: failed: git " in result.stderr
        assert "_COMMIT=" not in result.stdout
    remote = make_remote(tmp_path)
    work = clone(remote, tmp_path / "work")
    result = run_tool("skip", "--release", "--repo", str(work), "--rev", "no-such-rev", env=ci_env)
    assert result.returncode == 1 and "RELEASE_COMMIT=" not in result.stdout
