"""The local platform's servers (tools/platform), run on loopback: the git server serves clones and
refuses pushes, the local Secure Key Manager answers SKM's API only to the right credentials, the
receiver keeps what is posted. In the cluster they run in the node's network namespace (e2e-argocd)."""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.platform import mirrors, skm

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(module: str, *args: str) -> int:
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", f"tools.platform.{module}", *args, "--port", str(port),
                                    "--bind", "127.0.0.1", "--tag", str(tmp_path)], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                return port
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{module} did not answer")
    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def test_git_server_serves_a_clone_and_refuses_a_push(serve, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "file.txt").write_text("one\n")
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "one", cwd=work)
    served = tmp_path / "served"
    commit = mirrors.publish_repo(served, work, name="repo.git")
    port = serve("gitserver", "--root", str(served))
    clone = tmp_path / "clone"
    result = git("clone", "-q", f"http://127.0.0.1:{port}/git/repo.git", str(clone), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert git("rev-parse", "HEAD", cwd=clone).stdout.strip() == commit
    (clone / "file.txt").write_text("two\n")
    git("-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qam", "two", cwd=clone)
    pushed = git("push", "origin", "HEAD:main", cwd=clone)
    assert pushed.returncode != 0 and "403" in pushed.stderr, pushed.stderr
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/charts/../served/git/repo.git/HEAD", timeout=5)
    assert refused.value.code in (400, 404)


def skm_get(port: int, appkey: str, key: str, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/keymanager/v1.2/appkey/{appkey}/secrets/{key}",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_local_skm_answers_skm_api_only_with_the_credentials(serve, tmp_path):
    store_file = tmp_path / "store.json"
    store = skm.ensure_store(store_file, ["airflow-fernet-key", "alerting-slack-webhook-url"], "http://receiver")
    assert oct(store_file.stat().st_mode & 0o777) == "0o600"
    assert len(base64.urlsafe_b64decode(store["secrets"]["airflow-fernet-key"])) == 32
    assert store["secrets"]["alerting-slack-webhook-url"] == "http://receiver/alerting-slack-webhook-url"
    again = skm.ensure_store(store_file, ["airflow-fernet-key", "new-key"], "http://receiver")
    assert again["secrets"]["airflow-fernet-key"] == store["secrets"]["airflow-fernet-key"], "a re-run rotated"
    port = serve("skm", "--store", str(store_file))
    creds = store["credentials"]
    good = {"X-TC-AUTHENTICATION-ID": creds["accessKeyId"], "X-TC-AUTHENTICATION-SECRET": creds["secretAccessKey"]}
    status, body = skm_get(port, creds["appkey"], "airflow-fernet-key", good)
    assert status == 200 and body["body"]["secret"] == store["secrets"]["airflow-fernet-key"]
    assert skm_get(port, creds["appkey"], "airflow-fernet-key", {**good, "X-TC-AUTHENTICATION-SECRET": "x"})[0] == 401
    assert skm_get(port, "other-appkey", "airflow-fernet-key", good)[0] == 401
    assert skm_get(port, creds["appkey"], "no-such-key", good)[0] == 404


def test_skm_keys_are_read_from_the_external_secrets():
    objects = [{"kind": "ExternalSecret", "spec": {"data": [{"remoteRef": {"key": "a"}}],
                                                   "dataFrom": [{"extract": {"key": "b"}}]}},
               {"kind": "Secret", "spec": {"data": [{"remoteRef": {"key": "c"}}]}}]
    assert skm.external_secret_keys(objects) == ["a", "b"]


def test_receiver_keeps_every_post(serve, tmp_path):
    port = serve("receiver", "--log", str(tmp_path / "received.jsonl"))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/alerting-slack-webhook-url", method="POST",
                                     data=b'{"text": "sync failed"}', headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/received", timeout=5) as response:
        received = json.loads(response.read())
    assert [(r["path"], json.loads(r["body"])["text"]) for r in received] == [("/alerting-slack-webhook-url", "sync failed")]


def test_receiver_takes_mail_only_with_the_stores_smtp_password(serve, tmp_path):
    import smtplib

    store = tmp_path / "skm-store.json"
    store.write_text(json.dumps({"secrets": {"alerting-smtp-password": "the-password"}}))
    smtp_port = free_port()
    port = serve("receiver", "--log", str(tmp_path / "received.jsonl"), "--smtp-port", str(smtp_port),
                 "--smtp-store", str(store))
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alerts@example.test", "a-wrong-password")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused):  # no login, no mail
            client.sendmail("a@example.test", ["b@example.test"], "Subject: x\n\nnot sent")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.login("alerts@example.test", "the-password")
        client.sendmail("a@example.test", ["b@example.test"], "Subject: task failed\n\ndag=x task=y")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/received", timeout=5) as response:
        received = json.loads(response.read())
    assert [(r["path"], r["login"], r["to"], r["subject"], r["body"].strip()) for r in received] == [
        ("smtp", "alerts@example.test", ["b@example.test"], "task failed", "dag=x task=y")]


def test_mirror_wants_exactly_the_upstream_versions_the_applications_name():
    apps = [{"spec": {"sources": [
        {"repoURL": "http://10.80.0.10:8418/git/argo-cd.git", "targetRevision": "v3.2.11", "path": "manifests"},
        {"repoURL": "http://10.80.0.10:8418/charts/spark-operator", "chart": "spark-operator", "targetRevision": "2.3.0"},
        {"repoURL": "http://10.80.0.10:8418/git/nks-mlops-gitops.git", "targetRevision": "main", "path": "apps/x"}]}}]
    assert mirrors.wanted(apps) == [("chart", "https://kubeflow.github.io/spark-operator", "2.3.0"),
                                    ("git", "https://github.com/argoproj/argo-cd.git", "v3.2.11")]
