"""`events_features` on the local cluster, end to end: triggered through Airflow's REST API, every
task in a pod of its own (KubernetesExecutor) that is deleted afterwards, each Spark step a
SparkApplication whose executors come and go (dynamic allocation), the features in the in-cluster
object storage equal to the DuckDB oracle cell by cell."""
from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tests.e2e.dataloop.conftest import BUCKET, DAY, ROWS, SEED, features_rows, peak, task_pods
from tests.jobs.oracle import mismatches, oracle_features, raw_line_count

pytestmark = pytest.mark.e2e

SPARK_TASKS = ("validate_partition", "build_features", "check_quality", "publish_manifest")


def _tries(run: dict) -> list[tuple[str, int, int]]:
    """Every try of every task instance (a retried task's earlier tries included)."""
    return sorted((t["task_id"], t.get("map_index", -1), n) for t in run["task_instances"]
                  for n in range(1, t["try_number"] + 1))


def test_every_task_succeeded(first_run):
    tasks = {t["task_id"] for t in first_run["task_instances"]}
    assert tasks == {"plan_partitions", *SPARK_TASKS}
    assert {t["state"] for t in first_run["task_instances"]} == {"success"}
    print(f"\nrun {first_run['run_id']}: success in {first_run['seconds']:.0f}s, {len(first_run['task_instances'])} tasks")


def test_every_task_ran_in_a_pod_of_its_own_that_is_gone(first_run, watches):
    pods = task_pods(watches["airflow"].snapshot(), first_run["run_id"])
    by_try = defaultdict(list)
    for pod in pods:
        a = pod["annotations"]
        by_try[(a["task_id"], int(a.get("map_index", -1)), int(a["try_number"]))].append(pod)
    print("\ntask pod (API server times)                          created -> deleted   seconds")
    for key, found in sorted(by_try.items()):
        for pod in found:
            lived = (pod["deleted"] - pod["created"]) if pod["deleted"] else float("nan")
            print(f"  {pod['name'][:52]:52} {key[0]}[{key[1]}] try {key[2]}  {lived:6.0f}s  {'>'.join(pod['phases'])}")
    assert sorted(by_try) == _tries(first_run), "one pod per task try, and a pod for every task try"
    assert all(len(found) == 1 for found in by_try.values())
    # The pods of the tries that succeeded are deleted; a failed try's pod stays for its logs
    # (DELETE_WORKER_PODS_ON_FAILURE=False), so it is reported, not asserted away.
    last = {(t["task_id"], t.get("map_index", -1), t["try_number"]) for t in first_run["task_instances"]}
    final = [pod for key, found in by_try.items() if key in last for pod in found]
    assert all(p["deleted"] and p["deleted"] >= p["created"] and p.get("gone") for p in final), \
        [p["name"] for p in final if not p.get("gone")]
    assert all("Succeeded" in p["phases"] or "Running" in p["phases"] for p in final)
    kept = [p["name"] for key, found in by_try.items() if key not in last for p in found if not p.get("gone")]
    if kept:
        print(f"  failed tries' pods kept for their logs: {kept}")


def test_every_task_pod_fetched_the_commit_its_dag_was_parsed_from(first_run, watches, platform):
    """Not `main` at pod start: each task pod's git-sync is pinned to the commit in its DAG version's
    pod override (mlops_dags.dag_version), a commit the DAG repository has. (The DAG folder is not a
    versioned bundle, so a run's later tasks may take a DAG version parsed after it started.)"""
    import subprocess

    pods = task_pods(watches["airflow"].snapshot(), first_run["run_id"])
    assert pods
    pinned = {p["name"]: (p["annotations"].get("mlops-platform/dag-commit"), p.get("git_sync_ref")) for p in pods}
    assert all(commit and commit == ref for commit, ref in pinned.values()), \
        {name: pair for name, pair in pinned.items() if not pair[0] or pair[0] != pair[1]}
    for commit in {commit for commit, _ in pinned.values()}:
        ancestry = subprocess.run(["git", f"--git-dir={platform.remote}", "merge-base", "--is-ancestor", commit, "main"],
                                  capture_output=True, text=True)
        assert ancestry.returncode == 0, f"{commit} is not in the DAG repository's main: {ancestry.stderr}"
    print(f"\n{len(pods)} task pods on DAG commits {sorted({c for c, _ in pinned.values()})}")


def test_spark_executors_scale_out_and_back_to_zero(first_run, watches):
    spark_pods = [p for p in watches["spark-jobs"].snapshot() if p["labels"].get("spark-app-selector")]
    apps = defaultdict(lambda: {"drivers": [], "executors": []})
    for pod in spark_pods:
        role = pod["labels"].get("spark-role")
        if role in ("driver", "executor"):
            apps[pod["labels"]["spark-app-selector"]][f"{role}s"].append(pod)
    print("\nSpark application      step                 executors  peak  driver lived")
    peaks = {}
    for selector, app in sorted(apps.items(), key=lambda kv: min(p["created"] for p in kv[1]["drivers"] + kv[1]["executors"])):
        intervals = [(p["created"], p["deleted"]) for p in app["executors"] if p["deleted"]]
        peaks[selector] = peak(intervals)
        driver = app["drivers"][0] if app["drivers"] else {}
        step = driver.get("labels", {}).get("app.kubernetes.io/component", "?")
        lived = (driver["deleted"] - driver["created"]) if driver.get("deleted") else float("nan")
        print(f"  {selector[:20]:20} {step:20} {len(app['executors']):9} {peaks[selector]:5}  {lived:6.0f}s")
    spark_tries = [t for t in first_run["task_instances"] if t["task_id"] in SPARK_TASKS]
    assert sum(1 for app in apps.values() if app["drivers"]) >= len(spark_tries), "a driver pod per Spark task"
    assert max(peaks.values()) > 1, f"no application had more than one executor at once: {peaks}"
    # Once idle nothing is left: every executor and driver pod deleted (the operator deletes a
    # finished application, its driver with it, and Spark its executors).
    assert all(p.get("gone") for p in spark_pods), [p["name"] for p in spark_pods if not p.get("gone")]


def test_features_in_object_storage_equal_the_oracle(first_run, store, tmp_path):
    columns, expected = oracle_features(first_run["raw_files"], DAY)
    location, actual = features_rows(store, tmp_path, columns)
    assert location.startswith(f"s3a://{BUCKET}/features/user_daily/")
    assert len(expected) > 1000
    differ = mismatches(expected, actual)
    assert not differ, f"{len(differ)} cells differ, first: {differ[:5]}"


def test_every_row_is_counted_good_or_quarantined(first_run, store):
    manifest = json.loads(store.get(first_run["layout"].manifest(DAY)))
    counts = manifest["counts"]
    assert counts["rows_in"] == raw_line_count(first_run["raw_files"])
    assert counts["rows_in"] == counts["good"] + counts["quarantined"] > counts["good"] > 0
    assert counts["rows_out"] == len(oracle_features(first_run["raw_files"], DAY)[1])
    quarantine = store.list(f"{BUCKET}/quarantine/events/dt={DAY.isoformat()}")
    assert any(key.endswith(".parquet") for key in quarantine), "the quarantined rows are kept, not dropped"
    print(f"\nmanifest counts: {counts}")


def _iso(stamp: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None


def _spread(values: list[float]) -> dict:
    ordered = sorted(values)
    at = lambda q: round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1) if ordered else None  # noqa: E731
    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "max": at(1.0)}


def test_record_the_loops_figures(first_run, watches):
    """Figures for `make bench-dataloop` (kept in .run/bench/dataloop.json); nothing is timed here."""
    from pathlib import Path

    queued_to_running = [_iso(t["start_date"]) - _iso(t["queued_when"]) for t in first_run["task_instances"]
                         if t.get("queued_when") and t.get("start_date")]
    by_app = defaultdict(list)
    for pod in watches["spark-jobs"].snapshot():
        if pod["labels"].get("spark-app-selector"):
            by_app[pod["labels"]["spark-app-selector"]].append(pod)
    first_executor, applications = [], []
    for pods in by_app.values():
        drivers = [p for p in pods if p["labels"].get("spark-role") == "driver"]
        executors = [p for p in pods if p["labels"].get("spark-role") == "executor"]
        if not drivers or not executors:
            continue
        submitted = drivers[0]["created"]
        running = [p["running"] for p in executors if p.get("running")]
        if running:
            first_executor.append(min(running) - submitted)
        gone = [p["deleted"] for p in executors if p["deleted"]]
        applications.append({"step": drivers[0]["labels"].get("app.kubernetes.io/component"),
                             "executors": len(executors),
                             "peak": peak([(p["created"], p["deleted"]) for p in executors if p["deleted"]]),
                             "last_executor_gone_s": round(max(gone) - submitted, 1) if gone else None})
    rows_in = raw_line_count(first_run["raw_files"])
    figures = {
        # What jobs/bench/dataloop_local.py regenerates to run the same input in local mode.
        "input": {"day": DAY.isoformat(), "rows": ROWS, "partitions": len(first_run["raw_files"]), "seed": SEED},
        "run_seconds": round(first_run["seconds"], 1),
        "rows_in": rows_in,
        "rows_per_second_whole_run": round(rows_in / first_run["seconds"], 1),
        "task_queued_to_running_s": _spread(queued_to_running),
        "driver_created_to_first_executor_running_s": _spread(first_executor),
        "applications": sorted(applications, key=lambda a: str(a["step"])),
    }
    out = Path(__file__).resolve().parents[3] / ".run" / "bench" / "dataloop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print("\n" + json.dumps(figures, indent=2))
    assert figures["task_queued_to_running_s"]["n"] == len(first_run["task_instances"])
