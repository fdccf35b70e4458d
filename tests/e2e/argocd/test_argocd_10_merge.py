"""Merge -> running: a commit pushed to the local remote reaches Synced through the webhook Argo CD
exposes (/api/webhook, GitHub push payload, signature checked), not by polling. Timings are in
`make bench-argocd`; here only the path is proved."""
from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest
from conftest import synced_at, wait_for

pytestmark = pytest.mark.e2e

NAMESPACES = "apps/namespaces/base/generated/namespaces.yaml"


def annotate_spark_jobs(value: str):
    def edit(root):
        path = root / NAMESPACES
        text = path.read_text()
        marker = "  name: spark-jobs\n"
        assert marker in text, f"{NAMESPACES}: no namespace spark-jobs"
        if "e2e.mlops-platform/merge:" in text:
            lines = [line for line in text.splitlines(keepends=True) if "e2e.mlops-platform/merge:" not in line]
            text = "".join(lines)
        path.write_text(text.replace(marker, marker + f"  annotations:\n    e2e.mlops-platform/merge: \"{value}\"\n", 1)
                        if "  name: spark-jobs\n  annotations:" not in text else
                        text.replace("  name: spark-jobs\n  annotations:\n",
                                     f"  name: spark-jobs\n  annotations:\n    e2e.mlops-platform/merge: \"{value}\"\n", 1))
    return edit


def test_a_merge_is_synced_through_the_webhook(platform, checkout):
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1)  # --since-time has whole seconds
    commit = checkout.merge("e2e: annotate spark-jobs", annotate_spark_jobs("1"), [NAMESPACES])
    wait_for(lambda: synced_at(platform, "namespaces", commit), "namespaces Synced at the merged commit", 120)
    live = json.loads(platform.kubectl("get", "namespace", "spark-jobs", "-o", "json").stdout)
    assert live["metadata"]["annotations"]["e2e.mlops-platform/merge"] == "1"
    logs = platform.kubectl("-n", "argocd", "logs", "deploy/argocd-server", f"--since-time={since}").stdout
    refreshed = sorted(set(re.findall(r"refreshing app '([^']+)' from webhook", logs)))
    # The Application whose files changed, and none whose manifest-generate-paths the push missed
    # (the root has no such annotation: it renders the cluster entry, so every push refreshes it).
    assert "namespaces" in refreshed and not set(refreshed) & {"airflow", "argocd", "spark-standalone"}, refreshed
    print(f"refreshed by the webhook: {refreshed}")


def test_a_push_event_with_a_wrong_signature_is_refused(platform, checkout):
    original = platform.webhook_secret
    platform.webhook_secret = lambda: "not-the-secret"
    try:
        status = platform.notify_push(checkout.head())
    finally:
        platform.webhook_secret = original
    assert status == 400

    def refused_in_log() -> str:
        logs = platform.kubectl("-n", "argocd", "logs", "deploy/argocd-server", "--since=2m").stdout
        return logs.rsplit("HMAC verification failed", 1)[-1] if "HMAC verification failed" in logs else ""
    after = wait_for(refused_in_log, "argocd-server to log the refused signature", 30)
    assert "Received push event" not in after, "the refused event was processed"
