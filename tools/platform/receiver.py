"""The local cluster's alert receiver: where Argo CD notifications and the DAGs' Slack and
Dooray! alerts go (their URLs in the local Secure Key Manager point here), and, with --smtp-port,
the mail server the DAGs' alert mail goes to (clusters/local points Airflow's SMTP connection here).
SMTP logins must carry the password the store holds for the alert account, as a real server would
check it. Every POST and every mail is kept, one JSON line each (time, path, content type, body;
`smtp` as the path of a mail), so tests and people can read what was sent.

    python -m tools.platform.receiver --log FILE --port PORT --tag STATE_DIR
        [--smtp-port PORT --smtp-store SKM_STORE_FILE --smtp-key KEY]
    GET /received  -> the lines so far (a JSON list); GET /healthz
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from tools.localplatform.receivers import mail_fields
from tools.platform import serving

_lock = threading.Lock()


class Handler(serving.JsonHandler):
    log_file: Path

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/healthz":
            return self.answer(200, {"ok": True})
        if self.path == "/received":
            with _lock:
                lines = self.log_file.read_text().splitlines() if self.log_file.exists() else []
            return self.answer(200, [json.loads(line) for line in lines])
        self.answer(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        entry = {"time": time.time(), "path": self.path, "content_type": self.headers.get("Content-Type", ""),
                 "body": body}
        _keep(self.log_file, entry)
        self.answer(200, {"ok": True})

    do_PUT = do_POST  # noqa: N815


def _keep(log_file: Path, entry: dict) -> None:
    with _lock, open(log_file, "a") as out:
        out.write(json.dumps(entry) + "\n")


class MailHandler:
    def __init__(self, log_file: Path):
        self.log_file = log_file

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        _keep(self.log_file, {"time": time.time(), "path": "smtp", "content_type": "message/rfc822",
                              "login": getattr(session, "alert_login", ""), **mail_fields(envelope)})
        return "250 Message accepted for delivery"


def start_smtp(log_file: Path, bind: str, port: int, password: str):
    """A plain SMTP server (no TLS: it only listens inside the node's namespace) that requires a
    login with `password`."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = getattr(auth_data, "password", b"") == password.encode()
        if ok:
            session.alert_login = auth_data.login.decode(errors="replace")
        return AuthResult(success=ok, handled=False)

    controller = Controller(MailHandler(log_file), hostname=bind, port=port, authenticator=authenticate,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> int:
    parser = serving.parser("python -m tools.platform.receiver", __doc__)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--smtp-port", type=int)
    parser.add_argument("--smtp-store", type=Path, help="the local SKM store file holding the SMTP password")
    parser.add_argument("--smtp-key", default="alerting-smtp-password")
    args = parser.parse_args(argv)
    Handler.log_file = args.log.resolve()
    Handler.log_file.parent.mkdir(parents=True, exist_ok=True)
    smtp = None
    if args.smtp_port:
        password = json.loads(args.smtp_store.read_text())["secrets"][args.smtp_key]
        smtp = start_smtp(Handler.log_file, args.bind, args.smtp_port, password)
    try:
        return serving.serve(Handler, args.bind, args.port)
    finally:
        if smtp is not None:
            smtp.stop()


if __name__ == "__main__":
    sys.exit(main())
