"""Merge -> git-sync -> dag-processor -> REST API -> run, and an import error that spares the rest."""

from __future__ import annotations

import pytest
from airflow_e2e_dags import BROKEN
from airflow_e2e_util import PARSE_TIMEOUT, wait_until

pytestmark = pytest.mark.e2e


def test_repo_dags_seeded_from_working_tree_parse_without_errors(api, layout):
    seeded = sorted(p.name for p in (layout.git_sync_root / "repo" / "dags").glob("*.py"))
    assert seeded, "the DAG folder published by git-sync is empty"
    errors = [e["filename"] for e in api.import_errors() if "e2e_" not in e["filename"]]
    assert errors == []
    assert api.dag_ids(), "no DAG of the repo was parsed"


def test_pushed_dag_appears_in_api_and_its_run_succeeds(api, hello_dag):
    assert hello_dag in api.dag_ids()
    run_id = api.trigger(hello_dag)
    assert api.wait_run(hello_dag, run_id) == "success"
    [ti] = api.task_instances(hello_dag, run_id)
    assert (ti["task_id"], ti["state"]) == ("say_hello", "success")


def test_import_error_is_reported_and_other_dags_keep_running(api, clone, token, hello_dag):
    broken = f"dags/e2e_broken_{token}.py"
    clone.push_file(broken, BROKEN.format(token=token), "add a DAG file that cannot import")

    def reported():
        return [e for e in api.import_errors() if e["filename"].endswith(f"e2e_broken_{token}.py")]

    [error] = wait_until(reported, f"import error for {broken}", PARSE_TIMEOUT)
    assert f"module_that_does_not_exist_{token}" in error["stack_trace"]

    assert hello_dag in api.dag_ids()
    run_id = api.trigger(hello_dag)
    assert api.wait_run(hello_dag, run_id) == "success"

    # Fixing the repo (removing the file) clears the error again.
    clone.remove_file(broken, "remove the broken DAG file")
    wait_until(lambda: not reported(), f"import error for {broken} to clear", PARSE_TIMEOUT)
