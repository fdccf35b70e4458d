"""A task that fails after its last retry alerts by mail (real SMTP server) and webhook (JSON)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tools.localplatform.receivers import read_inbox

from airflow_e2e_dags import FAILING
from airflow_e2e_util import wait_until

pytestmark = pytest.mark.e2e


def test_final_failure_sends_mail_and_webhook_naming_dag_task_run_and_log(api, clone, token, layout):
    dag_id = f"e2e_failing_{token}"
    clone.push_file(f"dags/{dag_id}.py", FAILING.format(dag_id=dag_id), f"add {dag_id}")
    wait_until(lambda: api.has_dag(dag_id), f"{dag_id} in /api/v2/dags", 90)
    api.unpause(dag_id)
    run_id = api.trigger(dag_id)
    assert api.wait_run(dag_id, run_id) == "failed"
    [ti] = api.task_instances(dag_id, run_id)
    assert ti["try_number"] == 2  # one retry, then the final failure

    def for_this_run(kind, text_of):
        return [m for m in read_inbox(layout.inbox_dir, kind) if run_id in text_of(m)]

    mails = wait_until(lambda: for_this_run("mail", lambda m: m["subject"] + m["body"]), "alert mail", 60)
    hooks = wait_until(lambda: for_this_run("webhook", lambda m: m["json"].get("run_id", "")), "webhook", 60)

    log_link = f"{layout.api_url}/dags/{dag_id}/runs/{quote(run_id)}/tasks/always_fails"
    [mail] = mails  # exactly one: the retry did not alert, the final failure did
    assert mail["subject"] == f"[airflow] {dag_id}.always_fails failed (run {run_id})"
    assert f"DAG {dag_id} task always_fails run {run_id} try 2 failed" in mail["body"]
    assert log_link in mail["body"]

    [hook] = hooks
    assert hook["json"]["dag_id"] == dag_id and hook["json"]["task_id"] == "always_fails"
    assert hook["json"]["try_number"] == 2
    assert hook["json"]["log_url"].startswith(log_link)
