"""The history CLI (python-jenkins) against a local HTTP server answering with recorded Jenkins JSON.

The recordings in recordings/ are written by hand in the shape of Jenkins' JSON API (see their README);
no Jenkins controller runs here.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from ci_repo_factory import run_tool

RECORDINGS = Path(__file__).parent / "recordings"
USER, TOKEN = "ci-reader", "recorded-api-token"
REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"


class RecordedJenkins(BaseHTTPRequestHandler):
    routes = json.loads((RECORDINGS / "routes.json").read_text())
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.requests.append(self.path)
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._send(401, b"<html>Unauthorized</html>", "text/html")
        path = urlsplit(self.path).path
        if path not in self.routes:
            return self._send(404, b"<html>Not Found</html>", "text/html")
        self._send(200, (RECORDINGS / self.routes[path]).read_bytes(), "application/json;charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Jenkins", "2.528.2")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def jenkins_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedJenkins)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RecordedJenkins.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def history(url: str, env: dict, *args: str, token: str = TOKEN):
    env = dict(env, JENKINS_URL=url, JENKINS_USER=USER, JENKINS_API_TOKEN=token)
    return run_tool("history", "--job", "mlops-platform/main", *args, env=env)


def test_lists_recent_builds_with_commit_and_bumped_images(jenkins_url, ci_env):
    result = history(jenkins_url, ci_env, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["number"], r["result"]) for r in rows] == [(58, "RUNNING"), (57, "SUCCESS"), (56, "NOT_BUILT"), (55, "FAILURE")]
    bump = rows[1]
    assert bump["commit"] == "4b1d9e7c2a3f5e6d7c8b9a0f1e2d3c4b5a697887"
    assert bump["duration_s"] == 1684.2
    assert [image.split("@")[0] for image in bump["images"]] == [
        f"{REGISTRY}/airflow:4b1d9e7c2a3f5e6d7c8b9a0f1e2d3c4b5a697887",
        f"{REGISTRY}/spark-etl:4b1d9e7c2a3f5e6d7c8b9a0f1e2d3c4b5a697887",
    ]
    assert rows[2]["images"] == [] and rows[2]["commit"].startswith("c0ffee")
    # python-jenkins asked for the crumb first, then the folder/branch job, then each build.
    assert RecordedJenkins.requests[0].startswith("/crumbIssuer/api/json")
    assert "/job/mlops-platform/job/main/api/json?depth=0" in RecordedJenkins.requests


def test_table_and_limit(jenkins_url, ci_env):
    result = history(jenkins_url, ci_env, "--limit", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4  # header, rule, two builds
    assert lines[2].split()[:2] == ["58", "RUNNING"]
    assert lines[3].split()[:3] == ["57", "SUCCESS", "1684.2s"]
    assert "4b1d9e7c2a3f" in lines[3] and "spark-etl:4b1d9e7c" in lines[3]


def test_unknown_job_is_a_clear_error(jenkins_url, ci_env):
    env = dict(ci_env, JENKINS_URL=jenkins_url, JENKINS_USER=USER, JENKINS_API_TOKEN=TOKEN)
    result = run_tool("history", "--job", "mlops-platform/feature-x", env=env)
    assert result.returncode == 2
    assert "job 'mlops-platform/feature-x' not found" in result.stderr


def test_wrong_token_fails(jenkins_url, ci_env):
    result = history(jenkins_url, ci_env, token="wrong")
    assert result.returncode != 0
    assert "history: " in result.stderr


def test_missing_url_is_bad_input(ci_env):
    env = {k: v for k, v in ci_env.items() if k != "JENKINS_URL"}
    result = run_tool("history", env=env)
    assert result.returncode == 2 and "set JENKINS_URL" in result.stderr
