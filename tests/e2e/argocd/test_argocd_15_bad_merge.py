"""Bad merge: a commit whose manifest the API server refuses. With server-side diff Argo CD's dry-run
is refused before any sync starts, so the Application reports a ComparisonError (sync status
Unknown) rather than a failed sync; the notification naming the Application, the revision and the
API server's reason reaches the local receiver; the previous version keeps running; reverting the
commit (the README's roll back for anything but an image) brings it back to Synced."""
from __future__ import annotations

import json
import time

import pytest
from conftest import app_state, git, settled, wait_for

pytestmark = pytest.mark.e2e

APP = "spark-standalone"
MASTER = "apps/spark-standalone/base/master.yaml"
# A label value may not contain spaces or "!": kustomize keeps it, the API server refuses it.
BAD_VALUE = "not a valid label value!"
BAD_LABEL = f"  labels:\n    e2e.mlops-platform/bad: \"{BAD_VALUE}\"\n"


def refuse_master(root):
    path = root / MASTER
    text = path.read_text()
    head = "kind: Deployment\nmetadata:\n  name: spark-master\n"
    assert head in text, f"{MASTER}: no Deployment spark-master where expected"
    start = text.index(head) + len(head)
    labels = text.index("  labels:\n", start)
    path.write_text(text[:labels] + BAD_LABEL + text[labels + len("  labels:\n"):])


def deployment(platform) -> dict:
    return json.loads(platform.kubectl("-n", "spark", "get", "deployment", "spark-master", "-o", "json").stdout)


def comparison_errors(platform) -> list[str]:
    return [c["message"] for c in app_state(platform, APP).get("status", {}).get("conditions", [])
            if c["type"] == "ComparisonError"]


def alerts_since(platform, since: float) -> list[str]:
    log = platform.dir / "received.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [e["body"] for e in entries if e["time"] >= since]


def test_a_refused_manifest_alerts_keeps_the_running_version_and_a_revert_recovers(platform, checkout):
    before = deployment(platform)
    started = time.time()
    merged = time.monotonic()
    commit = checkout.merge("e2e: a label value the API server refuses", refuse_master, [MASTER])

    def refused() -> list[str]:
        state = app_state(platform, APP)
        errors = comparison_errors(platform)
        return errors if state["status"]["sync"]["status"] == "Unknown" and errors else []
    errors = wait_for(refused, f"{APP} to report the refused manifest", 300)
    print(f"bad merge: ComparisonError {time.monotonic() - merged:.1f}s after the push")
    # The API server names the object, the field and the value (not the label's key).
    assert any('"spark-master" is invalid: metadata.labels' in e and BAD_VALUE in e for e in errors), errors

    def alerted() -> list[str]:
        return [b for b in alerts_since(platform, started) if f"{APP} cannot apply revision" in b]
    bodies = wait_for(alerted, "the comparison-error notification at the local receiver", 180)
    text = json.loads(bodies[0])["text"]
    assert commit in text and BAD_VALUE in text and f"/applications/{APP}" in text, text

    now = deployment(platform)
    assert now["metadata"]["uid"] == before["metadata"]["uid"]
    assert now["metadata"]["generation"] == before["metadata"]["generation"]
    assert "e2e.mlops-platform/bad" not in now["metadata"].get("labels", {})
    assert now["status"].get("readyReplicas") == before["status"].get("readyReplicas")

    git("revert", "--no-edit", "HEAD", cwd=checkout.path)
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout.path)
    reverted = checkout.head()
    assert platform.notify_push(reverted, commit, [MASTER]) == 200
    recovered = time.monotonic()
    wait_for(lambda: settled(platform, APP, reverted) and not comparison_errors(platform),
             f"{APP} Synced again at the revert", 300)
    print(f"bad merge: refused and alerted; Synced {time.monotonic() - recovered:.1f}s after the revert")
