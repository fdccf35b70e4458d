"""Source text of the DAGs the e2e tests push to the local DAG repo (as a developer would merge them)."""

HELLO = '''
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False, tags=["e2e"])
def hello():
    @task
    def say_hello() -> str:
        return "hello from {dag_id}"

    say_hello()


hello()
'''

# A module that fails at import: the dag-processor must report it and keep the other files.
BROKEN = '''
from airflow.sdk import dag
import module_that_does_not_exist_{token}  # the import error the test expects
'''

# Fails on every try; on_failure_callback fires once, after the last retry (retries=1).
FAILING = '''
import json
import os
from datetime import timedelta

import pendulum
import requests
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseNotifier, dag, task


class WebhookNotifier(BaseNotifier):
    """Posts a JSON alert to the URL in ALERT_WEBHOOK_URL (local receiver; Slack/Dooray in cluster)."""

    def notify(self, context):
        ti = context["ti"]
        payload = {{"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id,
                    "try_number": ti.try_number, "log_url": ti.log_url}}
        requests.post(os.environ["ALERT_WEBHOOK_URL"], json=payload, timeout=10).raise_for_status()


mail = SmtpNotifier(
    to=os.environ.get("ALERT_EMAIL_TO", "data-platform@localplatform.invalid"),
    from_email="airflow@localplatform.invalid",
    subject="[airflow] {{{{ ti.dag_id }}}}.{{{{ ti.task_id }}}} failed (run {{{{ ti.run_id }}}})",
    html_content=("DAG {{{{ ti.dag_id }}}} task {{{{ ti.task_id }}}} run {{{{ ti.run_id }}}} "
                  "try {{{{ ti.try_number }}}} failed. Log: {{{{ ti.log_url }}}}"),
)


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False, tags=["e2e"],
     default_args={{"retries": 1, "retry_delay": timedelta(seconds=1),
                   "on_failure_callback": [mail, WebhookNotifier()]}})
def failing():
    @task
    def always_fails():
        raise RuntimeError("deliberate failure for the alert test")

    always_fails()


failing()
'''
