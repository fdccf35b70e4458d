"""Re-running a date gives the same result: the first run's tasks cleared (what an operator does to
re-run a logical date), every task runs again in a new pod, the features are committed as a new
version behind the pointer, and that version equals the first one cell by cell."""
from __future__ import annotations

import json

import pytest

from tests.e2e.dataloop.conftest import DAG_ID, DAY, features_rows, run_to_end, task_pods
from tests.jobs.oracle import mismatches, oracle_features

pytestmark = pytest.mark.e2e


def test_a_rerun_of_the_same_date_gives_the_same_features(first_run, airflow, watches, store, tmp_path):
    columns, _ = oracle_features(first_run["raw_files"], DAY)
    before_location, before = features_rows(store, tmp_path / "before", columns)
    before_manifest = json.loads(store.get(first_run["layout"].manifest(DAY)))
    run_id = first_run["run_id"]
    # Defaults of this endpoint are a dry run of failed tasks only: both said explicitly.
    resp = airflow.request("POST", f"/dags/{DAG_ID}/clearTaskInstances",
                           json={"dry_run": False, "only_failed": False, "reset_dag_runs": True, "dag_run_id": run_id})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["task_instances"]) == len(first_run["task_instances"])
    rerun = run_to_end(airflow, watches, run_id)
    assert rerun["state"] == "success", [(t["task_id"], t["state"]) for t in rerun["task_instances"]]
    print(f"\nre-run of {run_id}: success in {rerun['seconds']:.0f}s")

    # Every task ran again, in a pod of its own (the second try's).
    second = {(p["annotations"]["task_id"], p["annotations"].get("map_index", "-1")) for p in
              task_pods(watches["airflow"].snapshot(), run_id) if p["annotations"].get("try_number") == "2"}
    assert second == {(t["task_id"], str(t.get("map_index", -1))) for t in rerun["task_instances"]}

    after_location, after = features_rows(store, tmp_path / "after", columns)
    assert after_location != before_location, "the re-run committed a new version behind the pointer"
    differ = mismatches(before, after)
    assert not differ, f"{len(differ)} cells differ between the two runs, first: {differ[:5]}"
    after_manifest = json.loads(store.get(first_run["layout"].manifest(DAY)))
    assert after_manifest["counts"] == before_manifest["counts"]
    assert after_manifest["location"] == after_location
