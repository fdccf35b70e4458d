"""PR preview on two commits of a temp repo with a known change."""

from __future__ import annotations

from pathlib import Path

from ci_repo_factory import SPARK_ETL, base_files, git, run_tool


def write(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    for rel, text in base_files().items():
        write(repo, rel, text)
    # A generated ConfigMap: its name carries a content hash, so a value change renames it.
    write(repo, "apps/airflow/base/config/airflow.env", "AIRFLOW__CORE__PARALLELISM=8\nAIRFLOW__CORE__LOAD_EXAMPLES=False\n")
    write(repo, "apps/airflow/base/kustomization.yaml",
          "resources:\n  - job-images.yaml\nconfigurations:\n  - image-fields.yaml\n"
          "configMapGenerator:\n  - name: airflow-config\n    envs:\n      - config/airflow.env\n")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "base")
    git(repo, "branch", "base-ref")
    return repo


def known_change(repo: Path) -> None:
    """The PR: new tag in prod only, one config value, one added object, one removed."""
    overlay = repo / "apps/airflow/overlays/prod/kustomization.yaml"
    overlay.write_text(overlay.read_text().replace('newTag: "0000001"', 'newTag: "2222222"'))
    write(repo, "apps/airflow/base/config/airflow.env", "AIRFLOW__CORE__PARALLELISM=16\nAIRFLOW__CORE__LOAD_EXAMPLES=False\n")
    write(repo, "apps/airflow/overlays/dev/extra.yaml",
          "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: preview-probe\n")
    dev = repo / "apps/airflow/overlays/dev/kustomization.yaml"
    dev.write_text(dev.read_text().replace("  - ../../base\n", "  - ../../base\n  - extra.yaml\n"))
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "PR change")


def test_preview_shows_the_known_change_per_cluster(tmp_path, ci_env):
    repo = make_repo(tmp_path)
    known_change(repo)
    out = tmp_path / "preview"
    result = run_tool("preview", "--repo", str(repo), "--base", "base-ref", "--head", "HEAD", "--out", str(out), env=ci_env)
    assert result.returncode == 0, result.stderr

    summary = (out / "summary.txt").read_text().splitlines()
    assert "dev: clusters/dev: 1 added, 0 removed, 1 changed" in summary
    assert "prod: clusters/prod: 0 added, 0 removed, 2 changed" in summary
    assert "prod: apps/airflow/overlays/prod: 0 added, 0 removed, 2 changed" in summary

    prod = (out / "prod.md").read_text()
    assert f'data.ETL_JOB_IMAGE: "{SPARK_ETL}:0000001" -> "{SPARK_ETL}:2222222"' in prod
    assert "~ changed ConfigMap airflow/airflow-config-" in prod and "(generated name, was airflow-config-" in prod
    assert 'data.AIRFLOW__CORE__PARALLELISM: "8" -> "16"' in prod
    dev = (out / "dev.md").read_text()
    assert "+ added   ServiceAccount airflow/preview-probe" in dev
    assert f"{SPARK_ETL}:2222222" not in dev  # the tag moved in prod only
    # A worktree is cleaned up after the run.
    assert git(repo, "worktree", "list").count("\n") == 1


def test_an_object_that_moves_between_folders_is_no_change_for_the_whole_cluster(tmp_path, ci_env):
    """Per render target the move is a removal and an addition; what the cluster ends up with is the same."""
    repo = make_repo(tmp_path)
    sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: mover\n  namespace: airflow\n"
    write(repo, "apps/airflow/overlays/dev/mover.yaml", sa)
    dev = repo / "apps/airflow/overlays/dev/kustomization.yaml"
    dev.write_text(dev.read_text().replace("  - ../../base\n", "  - ../../base\n  - mover.yaml\n"))
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "mover in the dev overlay")
    git(repo, "branch", "-f", "base-ref")
    dev.write_text(dev.read_text().replace("  - mover.yaml\n", ""))
    (repo / "apps/airflow/overlays/dev/mover.yaml").unlink()
    write(repo, "apps/spark/overlays/dev/kustomization.yaml",
          "resources:\n  - mover.yaml\nlabels:\n  - pairs:\n      owner: data-platform\n")
    write(repo, "apps/spark/overlays/dev/mover.yaml", sa)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "mover moves to another folder")
    out = tmp_path / "preview"
    result = run_tool("preview", "--repo", str(repo), "--base", "base-ref", "--out", str(out), env=ci_env)
    assert result.returncode == 0, result.stderr
    summary = (out / "summary.txt").read_text().splitlines()
    assert "dev: apps/airflow/overlays/dev: 0 added, 1 removed, 0 changed" in summary
    assert "dev: apps/spark/overlays/dev: 1 added, 0 removed, 0 changed" in summary
    assert "dev: (whole cluster): no changes" in summary
    assert "## every object the cluster ends up with" in (out / "dev.md").read_text()


def test_no_change_reads_no_changes(tmp_path, ci_env):
    repo = make_repo(tmp_path)
    out = tmp_path / "preview"
    result = run_tool("preview", "--repo", str(repo), "--base", "base-ref", "--out", str(out), env=ci_env)
    assert result.returncode == 0, result.stderr
    assert all(line.endswith("no changes") for line in (out / "summary.txt").read_text().splitlines())


def test_head_that_does_not_render_fails_and_says_where(tmp_path, ci_env):
    repo = make_repo(tmp_path)
    dev = repo / "apps/airflow/overlays/dev/kustomization.yaml"
    dev.write_text(dev.read_text().replace("  - ../../base\n", "  - ../../base\n  - missing.yaml\n"))
    git(repo, "commit", "--quiet", "-am", "broken")
    out = tmp_path / "preview"
    result = run_tool("preview", "--repo", str(repo), "--base", "base-ref", "--out", str(out), env=ci_env)
    assert result.returncode == 1
    assert "dev: apps/airflow/overlays/dev: HEAD DOES NOT RENDER" in result.stdout
    assert "missing.yaml" in (out / "dev.md").read_text()


def test_unknown_base_is_bad_input(tmp_path, ci_env):
    repo = make_repo(tmp_path)
    result = run_tool("preview", "--repo", str(repo), "--base", "origin/nope", "--out", str(tmp_path / "p"), env=ci_env)
    assert result.returncode == 2
    assert "revision 'origin/nope' does not exist" in result.stderr


def test_preview_renders_with_the_gates_pinned_kustomize_only(tmp_path, ci_env):
    """No silent fallback to another kustomize: without the pinned build the preview fails and says why."""
    repo = make_repo(tmp_path)
    empty_tools = tmp_path / "no-tools"
    empty_tools.mkdir()
    result = run_tool("preview", "--repo", str(repo), "--base", "base-ref", "--out", str(tmp_path / "p"),
                      env=dict(ci_env, TOOLS_DIR=str(empty_tools)))
    assert result.returncode == 1
    assert "kustomize is not built: run `make go-tools`" in result.stderr
    assert git(repo, "worktree", "list").count("\n") == 1  # worktrees removed on failure too


def test_gate_render_units_of_another_checkout(tmp_path):
    """The preview walks a worktree through the gate's own listing of what a cluster is made of."""
    from tools.gate import paths

    repo = make_repo(tmp_path)
    write(repo, "apps/spark/overlays/prod/kustomization.yaml", "resources: []\n")
    write(repo, "apps/notes/overlays/prod/README.md", "no kustomization here, so not a render unit\n")
    assert paths.clusters(repo) == ["dev", "prod"]
    assert [str(u.relative_to(repo)) for u in paths.render_units("prod", root=repo)] == [
        "clusters/prod", "apps/airflow/overlays/prod", "apps/spark/overlays/prod"]
    assert paths.render_units("prod")[0] == paths.ROOT / "clusters" / "prod"  # default: this checkout
