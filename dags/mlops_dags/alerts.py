"""Failure alerts: e-mail (SMTP), Slack and a Dooray!/generic incoming webhook.

Used as `on_failure_callback`, which Airflow calls only when a task fails for good (after its last
retry); retries go to `on_retry_callback`, which we leave silent. Connections come from env vars
AIRFLOW_CONN_SMTP_DEFAULT / AIRFLOW_CONN_SLACK_ALERTS / AIRFLOW_CONN_DOORAY_ALERTS, filled from the
`alerting` secret in cluster.
"""
import requests
from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseHook, BaseNotifier

SMTP_CONN_ID = "smtp_default"
SLACK_CONN_ID = "slack_alerts"
DOORAY_CONN_ID = "dooray_alerts"

# Names the DAG, task, run, try number and the log URL (ti.log_url uses [api] base_url).
FAILURE_TEXT = (
    "Airflow task failed: dag={{ dag.dag_id }} task={{ ti.task_id }}"
    "{% if ti.map_index is not none and ti.map_index >= 0 %}[{{ ti.map_index }}]{% endif %} "
    "run={{ run_id }} try={{ ti.try_number }} log={{ ti.log_url }}"
)


class DoorayWebhookNotifier(BaseNotifier):
    """POST a JSON message to an incoming webhook (NHN Dooray! format, accepted by generic hooks).

    The webhook URL is the connection's password, or its host when that is a full URL.
    """

    template_fields = ("text", "bot_name")

    def __init__(self, *, text: str = FAILURE_TEXT, conn_id: str = DOORAY_CONN_ID,
                 bot_name: str = "Airflow", timeout: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.text = text
        self.conn_id = conn_id
        self.bot_name = bot_name
        self.timeout = timeout

    def webhook_url(self) -> str:
        conn = BaseHook.get_connection(self.conn_id)
        for candidate in (conn.password, conn.host):
            if candidate and candidate.startswith(("http://", "https://")):
                return candidate
        raise ValueError(
            f"connection {self.conn_id!r}: put the full webhook URL (http[s]://...) in its password or host"
        )

    def payload(self, context) -> dict:
        ti = context.get("ti")
        exception = context.get("exception")
        fields = [
            {"title": "DAG", "value": context["dag"].dag_id, "short": True},
            {"title": "Task", "value": getattr(ti, "task_id", "?"), "short": True},
            {"title": "Run", "value": context.get("run_id", "?"), "short": True},
            {"title": "Try", "value": str(getattr(ti, "try_number", "?")), "short": True},
        ]
        if exception is not None:
            fields.append({"title": "Error", "value": str(exception)[:500], "short": False})
        return {
            "botName": self.bot_name,
            "text": self.text,
            "attachments": [{"title": "Log", "titleLink": getattr(ti, "log_url", ""), "color": "red",
                             "fields": fields}],
        }

    def notify(self, context) -> None:
        response = requests.post(self.webhook_url(), json=self.payload(context), timeout=self.timeout)
        response.raise_for_status()


def failure_notifiers(email_to: str) -> list[BaseNotifier]:
    """Each notifier logs (and swallows) its own delivery errors, so one broken channel does not
    silence the others."""
    return [
        SmtpNotifier(
            to=email_to,
            from_email="airflow@mlops-platform.local",
            smtp_conn_id=SMTP_CONN_ID,
            subject="[Airflow] {{ dag.dag_id }}.{{ ti.task_id }} failed (try {{ ti.try_number }})",
            html_content=f"<p>{FAILURE_TEXT}</p>",
        ),
        SlackWebhookNotifier(slack_webhook_conn_id=SLACK_CONN_ID, text=FAILURE_TEXT),
        DoorayWebhookNotifier(),
    ]
