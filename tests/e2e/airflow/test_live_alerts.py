"""A task that fails after its last retry alerts through the repo's notifiers: mail to a real SMTP
server (aiosmtpd) and JSON to the Slack- and Dooray-style webhook receivers."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from airflow_e2e_dags import FAILING
from airflow_e2e_util import PARSE_TIMEOUT, wait_until

from tools.localplatform.receivers import read_inbox

pytestmark = pytest.mark.e2e

TASK = "always_fails"
EMAIL_TO = "oncall@localplatform.invalid"


@pytest.fixture(scope="module")
def failed_run(api, clone, token, layout):
    dag_id = f"e2e_failing_{token}"
    clone.push_file(f"dags/{dag_id}.py", FAILING.format(dag_id=dag_id, email_to=EMAIL_TO), f"add {dag_id}")
    wait_until(lambda: api.has_dag(dag_id), f"{dag_id} in /api/v2/dags", PARSE_TIMEOUT)
    api.unpause(dag_id)
    run_id = api.trigger(dag_id)
    assert api.wait_run(dag_id, run_id) == "failed"
    [ti] = api.task_instances(dag_id, run_id)
    assert (ti["task_id"], ti["try_number"]) == (TASK, 2)  # one retry, then the final failure
    log_link = f"{layout.api_url}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{TASK}"
    return dag_id, run_id, log_link


def received(layout, kind: str, run_id: str, path: str | None = None) -> list[dict]:
    messages = read_inbox(layout.inbox_dir, kind)
    if path:
        messages = [m for m in messages if m["path"] == path]
    return [m for m in messages if run_id in str(m)]


def expected_text(dag_id, run_id, log_link) -> str:
    return f"dag={dag_id} task={TASK} run={run_id} try=2 log={log_link}"


def test_final_failure_mails_dag_task_run_and_log_link(layout, failed_run):
    dag_id, run_id, log_link = failed_run
    [mail] = wait_until(lambda: received(layout, "mail", run_id), "alert mail", 60)
    assert mail["to"] == [EMAIL_TO]
    assert mail["subject"] == f"[Airflow] {dag_id}.{TASK} failed (try 2)"
    assert expected_text(dag_id, run_id, log_link) in mail["body"]
    # Exactly one mail for the run: the retry (try 1) stayed silent.
    assert len(received(layout, "mail", run_id)) == 1


def test_final_failure_posts_slack_json(layout, failed_run):
    dag_id, run_id, log_link = failed_run
    [hook] = wait_until(lambda: received(layout, "webhook", run_id, "/hooks/slack"), "Slack webhook", 60)
    assert hook["content_type"].startswith("application/json")
    assert expected_text(dag_id, run_id, log_link) in hook["json"]["text"]


def test_final_failure_posts_dooray_json(layout, failed_run):
    dag_id, run_id, log_link = failed_run
    [hook] = wait_until(lambda: received(layout, "webhook", run_id, "/hooks/dooray"), "Dooray webhook", 60)
    [attachment] = hook["json"]["attachments"]
    assert attachment["titleLink"] == f"{log_link}?try_number=2"
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert (fields["DAG"], fields["Task"], fields["Run"], fields["Try"]) == (dag_id, TASK, run_id, "2")
    assert "deliberate failure" in fields["Error"]
