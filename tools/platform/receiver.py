"""The local cluster's webhook receiver: where Argo CD notifications and the DAGs' Slack and
Dooray! alerts go (their URLs in the local Secure Key Manager point here). Every POST is kept, one
JSON line each (time, path, content type, body), so tests and people can read what was sent.

    python -m tools.platform.receiver --log FILE --port PORT --tag STATE_DIR
    GET /received  -> the lines so far (a JSON list); GET /healthz
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    log_file: Path

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/healthz":
            return self._answer(200, {"ok": True})
        if self.path == "/received":
            with _lock:
                lines = self.log_file.read_text().splitlines() if self.log_file.exists() else []
            return self._answer(200, [json.loads(line) for line in lines])
        self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        entry = {"time": time.time(), "path": self.path, "content_type": self.headers.get("Content-Type", ""),
                 "body": body}
        with _lock, open(self.log_file, "a") as out:
            out.write(json.dumps(entry) + "\n")
        self._answer(200, {"ok": True})

    do_PUT = do_POST  # noqa: N815


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.platform.receiver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="0.0.0.0", help="inside the node namespace: every address there")
    parser.add_argument("--tag", required=True, help="the state directory (to find the process)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Handler.log_file = args.log.resolve()
    Handler.log_file.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
