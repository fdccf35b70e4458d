"""Bad merge: a commit with a manifest the API server rejects makes the sync fail, a notification
naming the Application and the error reaches the webhook receiver, the previous version keeps
running, and reverting the commit brings the Application back to Synced."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest
from conftest import app_state, git, synced_at, wait_for

pytestmark = pytest.mark.e2e

SERVICE = "apps/spark-standalone/base/master.yaml"


def received(platform) -> list[dict]:
    port = platform.status()["receiver_host_port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/received", timeout=10) as response:
        return json.loads(response.read())


def test_a_rejected_manifest_fails_the_sync_notifies_and_keeps_the_old_version(platform, checkout):
    before = received(platform)
    pods = platform.kubectl("-n", "spark", "get", "pods", "-l", "app.kubernetes.io/component=master",
                            "-o", "jsonpath={.items[*].metadata.uid}").stdout.split()

    def break_service(root):
        path = root / SERVICE
        text = path.read_text()
        # A Service port beyond 65535: valid YAML and a valid kustomization, refused by the API server.
        assert "port: 7077" in text
        path.write_text(text.replace("port: 7077", "port: 97077", 1))
    started = time.time()
    bad = checkout.merge("e2e: a Service port the API server rejects", break_service, [SERVICE])

    def failed() -> str:
        operation = app_state(platform, "spark-standalone").get("status", {}).get("operationState") or {}
        message = operation.get("message", "")
        revision = (operation.get("syncResult") or {}).get("revisions", [""])[-1]
        return message if revision == bad and operation.get("phase") == "Failed" and "97077" in message else ""
    # Argo CD retries a failed sync five times (10 s doubling: about five minutes) before it fails.
    message = wait_for(failed, "the sync of the bad commit to fail after its retries", 480, 3)
    print("sync failed:", message[:300])

    def notified() -> list[dict]:
        return [m for m in received(platform)[len(before):] if m["time"] >= started - 1
                and "spark-standalone" in m["body"]]
    messages = wait_for(notified, "a notification about spark-standalone", 180)
    assert any("97077" in m["body"] or "failed" in m["body"].lower() for m in messages), messages
    assert platform.kubectl("-n", "spark", "get", "pods", "-l", "app.kubernetes.io/component=master",
                            "-o", "jsonpath={.items[*].metadata.uid}").stdout.split() == pods, "the old master was replaced"
    # The fix is a revert of the bad merge (make rollback does this for image bumps).
    git("revert", "--no-edit", bad, cwd=checkout.path)
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout.path)
    fixed = checkout.head()
    assert platform.notify_push(fixed, bad, [SERVICE]) == 200
    wait_for(lambda: synced_at(platform, "spark-standalone", fixed), "spark-standalone Synced after the revert", 300)
