"""What the local platform's small HTTP servers (gitserver, skm, receiver) share: the command line
(`--port`, `--bind`, `--tag` to find the process by its state directory), SIGTERM handling, a
threaded server, and JSON answers."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The shared options; each server adds its own before calling serve()."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default="0.0.0.0", help="inside the node namespace: every address there")
    p.add_argument("--tag", required=True, help="the state directory (to find the process by its command line)")
    return p


def serve(handler: type[BaseHTTPRequestHandler], bind: str, port: int) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer((bind, port), handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0
