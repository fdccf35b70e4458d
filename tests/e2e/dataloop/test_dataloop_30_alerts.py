"""A task that fails on its last retry in the cluster alerts once, through every channel: the
repo's notifiers run in the task's worker pod, read their connections from the ExternalSecret
airflow-alerting-connections (values from the local Secure Key Manager), and reach the local
receiver in the node's namespace: the mail over SMTP with the store's password, Slack's and
Dooray!'s JSON at their webhook URLs. The first try fails silently (a retry is not an alert)."""
from __future__ import annotations

import json
import secrets
import subprocess
import time

import pytest

from tests.e2e.airflow.airflow_e2e_dags import FAILING
from tests.e2e.dataloop.conftest import task_pods, wait_for

pytestmark = pytest.mark.e2e

EMAIL_TO = "data-platform-alerts@example.com"
TASK = "always_fails"


def git(*args: str, cwd) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"git {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


@pytest.fixture(scope="module")
def failed_run(platform, airflow, watches, tmp_path_factory):
    """A DAG that always fails, merged to the local remote (git-sync brings it), triggered once;
    main goes back to where it was afterwards."""
    dag_id = f"e2e_cluster_alert_{secrets.token_hex(3)}"
    repo = tmp_path_factory.mktemp("alert") / "repo"
    git("clone", "--quiet", str(platform.remote), str(repo), cwd=repo.parent)
    start = git("rev-parse", "HEAD", cwd=repo)
    (repo / "dags" / f"{dag_id}.py").write_text(FAILING.format(dag_id=dag_id, email_to=EMAIL_TO))
    git("add", "--all", cwd=repo)
    git("-c", "user.name=e2e developer", "-c", "user.email=e2e@localhost", "commit", "--quiet", "--no-verify",
        "-m", f"add {dag_id}", cwd=repo)
    git("push", "--quiet", "origin", "HEAD:main", cwd=repo)
    try:
        wait_for(lambda: airflow.has_dag(dag_id), f"{dag_id} parsed (git-sync, dag-processor)", 300)
        airflow.unpause(dag_id)
        triggered = time.time()
        run_id = airflow.trigger(dag_id)
        state = airflow.wait_run(dag_id, run_id, timeout=600)
        yield {"dag_id": dag_id, "run_id": run_id, "state": state, "since": triggered,
               "task_instances": airflow.task_instances(dag_id, run_id)}
    finally:
        git("push", "--quiet", "--force", "origin", f"{start}:refs/heads/main", cwd=repo)


def received(platform, since: float, run_id: str) -> list[dict]:
    log = platform.dir / "received.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [e for e in lines if e["time"] >= since and run_id in json.dumps(e)]


def test_the_last_try_fails_and_each_try_had_its_own_pod(failed_run, watches):
    assert failed_run["state"] == "failed"
    [ti] = failed_run["task_instances"]
    assert (ti["task_id"], ti["try_number"], ti["state"]) == (TASK, 2, "failed")
    wait_for(lambda: all(p.get("gone") for p in task_pods(watches["airflow"].snapshot(), failed_run["run_id"],
                                                          failed_run["dag_id"])) or None, "the task pods deleted", 180)
    pods = task_pods(watches["airflow"].snapshot(), failed_run["run_id"], failed_run["dag_id"])
    assert sorted(p["annotations"]["try_number"] for p in pods) == ["1", "2"]


def test_one_alert_per_channel_naming_the_final_try(platform, failed_run):
    run_id = failed_run["run_id"]
    wanted = {"smtp", "/alerting-slack-webhook-url", "/alerting-dooray-webhook-url"}
    entries = wait_for(lambda: (lambda e: e if {x["path"] for x in e} >= wanted else None)(
        received(platform, failed_run["since"], run_id)), "mail, Slack and Dooray! alerts at the receiver", 120)
    time.sleep(5)  # anything later (a second alert) would show now
    entries = received(platform, failed_run["since"], run_id)
    assert sorted(e["path"] for e in entries) == sorted(wanted), [e["path"] for e in entries]
    text = f"dag={failed_run['dag_id']} task={TASK} run={run_id} try=2"
    [mail] = [e for e in entries if e["path"] == "smtp"]
    assert mail["to"] == [EMAIL_TO] and mail["login"] == "mlops-alerts@mlops-platform.example"
    assert text in mail["body"] and "(try 2)" in mail["subject"]
    for path in ("/alerting-slack-webhook-url", "/alerting-dooray-webhook-url"):
        [hook] = [e for e in entries if e["path"] == path]
        assert text in json.loads(hook["body"])["text"], hook["body"]
