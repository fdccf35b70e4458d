"""Alert receivers: a real SMTP server (aiosmtpd) and an HTTP webhook endpoint, on loopback.

Every message received is written to <inbox>/<kind>-<time>-<n>.json so tests and people can read
what Airflow's notifiers delivered. Run: python -m tools.localplatform.receivers INBOX SMTP_PORT HTTP_PORT
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller

_counter = itertools.count()


def _store(inbox: Path, kind: str, record: dict) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"{kind}-{time.time():.6f}-{next(_counter)}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.rename(path)  # readers never see half a file
    return path


def mail_fields(envelope) -> dict:
    """What a test reads of a received mail: sender, recipients, subject, text body."""
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain", "html"))
    return {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "subject": str(message["subject"] or ""),
            "body": body.get_content() if body is not None else ""}


class MailHandler:
    def __init__(self, inbox: Path):
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        _store(self.inbox, "mail", mail_fields(envelope))
        return "250 Message accepted for delivery"


def _webhook_handler(inbox: Path):
    class WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = json.loads(raw)
            except ValueError:
                self.send_error(400, "body is not JSON")
                return
            _store(inbox, "webhook", {"path": self.path, "content_type": self.headers.get("Content-Type"),
                                      "json": payload})
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, fmt, *args):
            print("webhook:", fmt % args, flush=True)

    return WebhookHandler


def read_inbox(inbox: Path, kind: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(inbox.glob(f"{kind}-*.json"))]


def main(argv: list[str]) -> int:
    inbox, smtp_port, http_port = Path(argv[0]), int(argv[1]), int(argv[2])
    smtp = Controller(MailHandler(inbox), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), _webhook_handler(inbox))
    print(f"receivers: smtp 127.0.0.1:{smtp_port}, webhook http://127.0.0.1:{http_port}", flush=True)
    try:
        threading.Thread(target=http.serve_forever, daemon=True).start()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        smtp.stop()
        http.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
