"""Drift: a managed Deployment edited by hand is put back by selfHeal; a resource deleted by hand
comes back; while selfHeal is paused, `make drift` reports the edit and exits non-zero."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import app_state, wait_for

from tools.k8s import layout as L

pytestmark = pytest.mark.e2e

# A label git declares on a managed Deployment: Argo CD diffs what git says, so a field git does not
# declare (an extra annotation) is not drift, while a changed value of a declared one is.
GIT_VALUE = "data-platform"


def owner(platform) -> str:
    return platform.kubectl("-n", "spark", "get", "deployment", "spark-master", "-o",
                            "jsonpath={.metadata.labels.owner}").stdout


def hand_edit(platform, value: str) -> None:
    platform.kubectl("-n", "spark", "label", "--overwrite", "deployment", "spark-master", f"owner={value}")


def test_a_hand_edit_of_a_managed_deployment_is_reverted(platform):
    assert owner(platform) == GIT_VALUE
    hand_edit(platform, "hand-edit")
    started = time.monotonic()
    wait_for(lambda: owner(platform) == GIT_VALUE, "selfHeal to revert the edit", 120, 0.5)
    print(f"selfHeal reverted a hand edit in {time.monotonic() - started:.1f}s")


def test_a_deleted_resource_comes_back(platform):
    policies = platform.kubectl("-n", "spark", "get", "networkpolicy", "-o", "name").stdout.split()
    assert policies, "spark has no NetworkPolicy to delete"
    victim = policies[0]
    uid = platform.kubectl("-n", "spark", "get", victim, "-o", "jsonpath={.metadata.uid}").stdout
    platform.kubectl("-n", "spark", "delete", victim)
    started = time.monotonic()

    def back() -> bool:
        now = platform.kubectl("-n", "spark", "get", victim, "-o", "jsonpath={.metadata.uid}", check=False)
        return now.returncode == 0 and now.stdout not in ("", uid)
    wait_for(back, f"{victim} to be re-created", 120, 0.5)
    print(f"{victim} re-created {time.monotonic() - started:.1f}s after its deletion")
    # The Application that owns it (annotation tracking: "<app>:<group>/<kind>:<ns>/<name>") must
    # report Synced again, not only have re-created it: the sync finishes before the next comparison.
    tracking = platform.kubectl("-n", "spark", "get", victim, "-o",
                                "jsonpath={.metadata.annotations.argocd\\.argoproj\\.io/tracking-id}").stdout
    assert ":" in tracking, f"{victim} carries no Argo CD tracking id: {tracking!r}"
    owner_app = tracking.split(":", 1)[0]
    wait_for(lambda: app_state(platform, owner_app)["status"]["sync"]["status"] == "Synced",
             f"{owner_app} Synced again after {victim} came back", 120, 0.5)
    print(f"{owner_app} Synced again {time.monotonic() - started:.1f}s after the deletion")


def set_self_heal(platform, enabled: bool) -> None:
    patch = json.dumps({"spec": {"syncPolicy": {"automated": {"selfHeal": enabled}}}})
    platform.kubectl("-n", "argocd", "patch", "application", "spark-standalone", "--type", "merge", "-p", patch)


def drift() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.platform", "drift"], cwd=L.ROOT, capture_output=True,
                          text=True, timeout=300)


def test_make_drift_reports_an_edit_while_self_heal_is_paused(platform):
    assert drift().returncode == 0, "drift before the edit"
    set_self_heal(platform, False)
    try:
        hand_edit(platform, "paused")
        wait_for(lambda: app_state(platform, "spark-standalone")["status"]["sync"]["status"] == "OutOfSync",
                 "spark-standalone OutOfSync", 120)
        result = drift()
        assert result.returncode == 1, result.stdout + result.stderr
        assert "spark-standalone" in result.stdout and "paused" in result.stdout, result.stdout
        time.sleep(10)
        assert owner(platform) == "paused", "healed although selfHeal was paused"
    finally:
        set_self_heal(platform, True)
    wait_for(lambda: owner(platform) == GIT_VALUE, "selfHeal after it is resumed", 180)
    wait_for(lambda: drift().returncode == 0, "no drift once healed", 120, 5)
