"""The local cluster's webhook receiver: where Argo CD notifications and the DAGs' Slack and
Dooray! alerts go (their URLs in the local Secure Key Manager point here). Every POST is kept, one
JSON line each (time, path, content type, body), so tests and people can read what was sent.

    python -m tools.platform.receiver --log FILE --port PORT --tag STATE_DIR
    GET /received  -> the lines so far (a JSON list); GET /healthz
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

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
        with _lock, open(self.log_file, "a") as out:
            out.write(json.dumps(entry) + "\n")
        self.answer(200, {"ok": True})

    do_PUT = do_POST  # noqa: N815


def main(argv: list[str] | None = None) -> int:
    parser = serving.parser("python -m tools.platform.receiver", __doc__)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    Handler.log_file = args.log.resolve()
    Handler.log_file.parent.mkdir(parents=True, exist_ok=True)
    return serving.serve(Handler, args.bind, args.port)


if __name__ == "__main__":
    sys.exit(main())
