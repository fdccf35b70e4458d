"""Failure notifiers against real local servers: HTTP (Dooray!/generic and Slack webhooks) and
SMTP (aiosmtpd). Each message must name the DAG, task, run id, try number and the log URL."""
import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from airflow.sdk import DAG

from mlops_dags.alerts import DOORAY_CONN_ID, DoorayWebhookNotifier, failure_notifiers
from tests.dags.conftest import env

LOG_URL = "http://airflow.example/dags/events_features/runs/manual__1/tasks/build_features?try_number=4"


@pytest.fixture
def webhook_server():
    """A real HTTP server on loopback recording every POST (path, JSON body)."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Content-Type"), body))
            status = 500 if self.path.startswith("/broken") else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server():
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check it is up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


@pytest.fixture
def failure_context():
    dag = DAG(dag_id="events_features", schedule=None)
    ti = SimpleNamespace(task_id="build_features", try_number=4, map_index=-1, log_url=LOG_URL,
                         dag_id="events_features")
    return {"dag": dag, "ti": ti, "task_instance": ti, "run_id": "manual__1",
            "exception": RuntimeError("data-quality checks failed")}


def _assert_names_everything(text: str):
    for needle in ("events_features", "build_features", "manual__1", "try=4", LOG_URL):
        assert needle in text, f"{needle!r} missing from {text!r}"


def test_dooray_notifier_posts_the_dooray_payload(webhook_server, failure_context):
    base, received = webhook_server
    url = f"{base}/services/1/2/token"
    with env(AIRFLOW_CONN_DOORAY_ALERTS=json.dumps({"conn_type": "http", "password": url})):
        DoorayWebhookNotifier()(failure_context)
    assert len(received) == 1
    path, content_type, body = received[0]
    assert path == "/services/1/2/token" and content_type == "application/json"
    payload = json.loads(body)
    assert payload["botName"] == "Airflow"
    _assert_names_everything(payload["text"])
    attachment = payload["attachments"][0]
    assert attachment["titleLink"] == LOG_URL
    assert {"title": "Try", "value": "4", "short": True} in attachment["fields"]
    assert any("data-quality checks failed" in f["value"] for f in attachment["fields"])


def test_dooray_url_may_sit_in_the_host_field(webhook_server, failure_context):
    base, received = webhook_server
    with env(AIRFLOW_CONN_DOORAY_ALERTS=json.dumps({"conn_type": "http", "host": f"{base}/hook"})):
        DoorayWebhookNotifier()(failure_context)
    assert [r[0] for r in received] == ["/hook"]


def test_dooray_misconfigured_connection_is_explained(failure_context):
    with env(AIRFLOW_CONN_DOORAY_ALERTS=json.dumps({"conn_type": "http", "host": "no-scheme.example"})):
        with pytest.raises(ValueError, match=f"connection '{DOORAY_CONN_ID}': put the full webhook URL"):
            DoorayWebhookNotifier().webhook_url()


def test_dooray_server_error_raises_from_notify(webhook_server, failure_context):
    base, _ = webhook_server
    with env(AIRFLOW_CONN_DOORAY_ALERTS=json.dumps({"conn_type": "http", "password": f"{base}/broken"})):
        notifier = DoorayWebhookNotifier()
        with pytest.raises(Exception, match="500"):
            notifier.notify(failure_context)


def test_slack_notifier_posts_to_the_webhook(webhook_server, failure_context):
    base, received = webhook_server
    slack = failure_notifiers("ops@example.com")[1]
    with env(AIRFLOW_CONN_SLACK_ALERTS=json.dumps({"conn_type": "slackwebhook",
                                                    "password": f"{base}/services/T0/B0/secret"})):
        slack(failure_context)
    assert len(received) == 1
    path, _, body = received[0]
    assert path == "/services/T0/B0/secret"
    _assert_names_everything(json.loads(body)["text"])


def test_smtp_notifier_sends_a_real_mail(smtp_server, failure_context):
    port, received = smtp_server
    email = failure_notifiers("ops@example.com")[0]
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True}}
    with env(AIRFLOW_CONN_SMTP_DEFAULT=json.dumps(conn)):
        email(failure_context)
    assert len(received) == 1
    envelope = received[0]
    assert envelope.rcpt_tos == ["ops@example.com"]
    message = message_from_bytes(envelope.content)
    assert message["Subject"] == "[Airflow] events_features.build_features failed (try 4)"
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    _assert_names_everything(html)
