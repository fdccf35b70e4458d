"""Task pods are pinned to the commit their DAG was parsed from (mlops_dags.dag_version).

The commit comes from git-sync's layout (GITSYNC_ROOT/.worktrees/<sha>, the link pointing there);
the DAG's executor_config carries it, and must survive Airflow's DAG serialization, which is what
the scheduler builds task pods from.
"""
import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.dags.conftest import DAGS_DIR, REPO

SHA = "0123456789abcdef0123456789abcdef01234567"


def git_sync_tree(root, sha=SHA):
    """GITSYNC_ROOT as git-sync leaves it: the worktree of `sha` and the `repo` link to it."""
    worktree = root / ".worktrees" / sha
    shutil.copytree(DAGS_DIR, worktree / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "repo").symlink_to(f".worktrees/{sha}")
    return root / "repo"


def test_the_commit_is_read_from_git_syncs_worktree_through_its_link(tmp_path):
    from mlops_dags import dag_version

    link = git_sync_tree(tmp_path)
    assert dag_version.checkout_commit(link) == SHA
    assert dag_version.checkout_commit(link / "dags" / "..") == SHA


@pytest.mark.parametrize("path", ["plain-checkout", ".worktrees/main", ".worktrees/0123abc"])
def test_no_commit_outside_a_git_sync_worktree(tmp_path, path):
    from mlops_dags import dag_version

    (tmp_path / path).mkdir(parents=True)
    assert dag_version.checkout_commit(tmp_path / path) is None
    assert dag_version.executor_config(None) == {}


def test_a_commit_that_is_not_a_full_sha_is_refused():
    from mlops_dags import dag_version

    with pytest.raises(ValueError, match="not a full commit sha: 'main'"):
        dag_version.executor_config("main")


# Parsed in a fresh interpreter: this process already imported mlops_dags from the checkout.
PARSE = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization
    bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    out = {}
    for dag_id, dag in bag.dags.items():
        dag = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
        for task in dag.tasks:
            pod = (task.executor_config or {}).get("pod_override")
            out[f"{dag_id}.{task.task_id}"] = None if pod is None else {
                "annotations": pod.metadata.annotations,
                "init": [{"name": c.name, "env": {e.name: e.value for e in c.env or []}}
                         for c in pod.spec.init_containers or []]}
    print(json.dumps(out))
""")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["local", "kubernetes"])
def test_every_task_of_a_dag_parsed_from_git_sync_carries_its_commit_through_serialization(tmp_path, mode):
    link = git_sync_tree(tmp_path / "git")
    (tmp_path / "git" / ".worktrees" / SHA / "apps").symlink_to(REPO / "apps")  # the Spark template
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180",
           "PYTHONPATH": f"{link / 'dags'}:{REPO / 'jobs'}", "ETL_SPARK_MODE": mode}
    proc = subprocess.run([sys.executable, "-c", PARSE, str(link / "dags")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tasks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any(name.startswith("events_features.") for name in tasks), tasks
    for name, override in tasks.items():
        assert override is not None, f"{name}: no pod override, its pod would clone main"
        assert override["annotations"] == {"mlops-platform/dag-commit": SHA}, name
        assert override["init"] == [{"name": "git-sync-init", "env": {"GITSYNC_REF": SHA}}], name


def test_a_dag_parsed_from_a_checkout_overrides_nothing():
    from mlops_dags import settings

    assert settings.default_args([])["executor_config"] == {}
