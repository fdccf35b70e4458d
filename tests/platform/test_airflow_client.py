"""The REST client the e2e suites drive Airflow with (tools/localplatform/airflow.py), against a
loopback server whose first answer to each request comes too late: a read is sent again, a write
is not (sending it twice could trigger two runs)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tools.localplatform.airflow import AirflowClient


@pytest.fixture
def slow_first_answer():
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            seen.append(f"{self.command} {self.path}")
            if self.path != "/auth/token" and sum(s.startswith(self.command) for s in seen) == 1:
                time.sleep(1.0)  # past the client's timeout below
            body = json.dumps({"access_token": "t", "state": "running"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer  # noqa: N815 (http.server's names)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = AirflowClient(f"http://127.0.0.1:{server.server_address[1]}", "admin", "pw")
    client.TIMEOUT = 0.3
    yield client, seen
    server.shutdown()


def test_a_read_that_times_out_is_sent_again(slow_first_answer):
    client, seen = slow_first_answer
    assert client.run_state("d", "r") == "running"
    assert seen.count("GET /api/v2/dags/d/dagRuns/r") == 2


def test_a_write_that_times_out_is_not_sent_again(slow_first_answer):
    client, seen = slow_first_answer
    with pytest.raises(requests.Timeout):
        client.request("PATCH", "/dags/d/dagRuns/r", json={"state": "failed"})
    assert seen.count("PATCH /api/v2/dags/d/dagRuns/r") == 1
