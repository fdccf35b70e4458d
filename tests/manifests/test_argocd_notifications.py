"""Argo CD's notifications as Argo CD evaluates them: `argocd admin notifications trigger run` and
`template notify` (the v3.2.11 binary, offline) on each cluster's rendered argocd-notifications-cm,
for Application states the controller really produces. The live path (a bad merge reaching the
local receiver) is tests/e2e/argocd/test_argocd_15_bad_merge.py."""
from __future__ import annotations

import json

import pytest
import yaml
from argocd_offline import argocd, needs_argocd, offline_env, write
from platform_render import app, one

pytestmark = needs_argocd

# What the controller writes when the server-side diff's dry-run is refused (controller/state.go:
# the diff error becomes a ComparisonError condition and the sync status Unknown).
REFUSED = ('Failed to compare desired state to live state: failed to calculate diff: error calculating '
           'server side diff: serverSideDiff error: error running server side apply in dryrun mode for '
           'resource Deployment/airflow-api-server: Deployment.apps "airflow-api-server" is invalid: '
           'spec.replicas: Invalid value: -1: must be greater than or equal to 0')


def application(sync: str, conditions: list[dict] | None = None, operation: dict | None = None) -> dict:
    status = {"sync": {"status": sync, "revisions": ["0123abc", "0123abc"]}, "health": {"status": "Healthy"}}
    if conditions:
        status["conditions"] = conditions
    if operation:
        status["operationState"] = operation
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "airflow", "namespace": "argocd"}, "spec": {"project": "data-platform"},
            "status": status}


@pytest.fixture
def files(env, tmp_path):
    cm = one(app("argocd", env), "ConfigMap", "argocd-notifications-cm", "argocd")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-notifications-secret"},
              "stringData": {"slack-webhook-url": "http://127.0.0.1:1/never-called"}}
    return {"env": offline_env(tmp_path), "cm": str(write(tmp_path, cm)), "secret": str(write(tmp_path, secret)),
            "argocdUrl": yaml.safe_load(cm["data"]["context"])["argocdUrl"], "dir": tmp_path}


def notifications(files, obj: dict, *command: str) -> str:
    """`argocd admin notifications <command> app.yaml` on the rendered ConfigMap; its stdout."""
    path = files["dir"] / "app.yaml"
    path.write_text(yaml.safe_dump(obj))
    out = argocd(files["env"], "admin", "notifications", *command, str(path),
                 "--config-map", files["cm"], "--secret", files["secret"])
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def trigger(files, name: str, obj: dict) -> bool:
    stdout = notifications(files, obj, "trigger", "run", name)
    results = {line.split()[-1] for line in stdout.splitlines()[1:] if line.strip()}
    assert results <= {"true", "false"}, stdout
    return "true" in results


def webhook_body(files, template: str, obj: dict) -> dict:
    stdout = notifications(files, obj, "template", "notify", template)
    return json.loads(yaml.safe_load(stdout)["webhook"]["slack-alerts"]["body"])


def test_a_refused_manifest_triggers_the_comparison_error_alert(files):
    refused = application("Unknown", [{"type": "ComparisonError", "message": REFUSED}])
    assert trigger(files, "on-comparison-error", refused)
    assert not trigger(files, "on-sync-failed", refused)  # why the comparison trigger exists


def test_a_synced_application_triggers_nothing(files):
    synced = application("Synced")
    for name in ("on-comparison-error", "on-sync-failed", "on-health-degraded"):
        assert not trigger(files, name, synced), name


def test_the_alert_names_the_application_the_revision_and_the_api_servers_reason(files):
    refused = application("Unknown", [{"type": "ComparisonError", "message": REFUSED},
                                      {"type": "SharedResourceWarning", "message": "not an error"}])
    text = webhook_body(files, "app-comparison-error", refused)["text"]
    assert text.startswith(":x: airflow cannot apply revision 0123abc")
    assert 'spec.replicas: Invalid value: -1' in text and '"airflow-api-server"' in text
    assert "not an error" not in text
    assert text.endswith(f"({files['argocdUrl']}/applications/airflow)")


def test_a_failed_sync_still_alerts(files):
    failed = application("OutOfSync", operation={"phase": "Failed", "message": "one or more objects failed to apply"})
    assert trigger(files, "on-sync-failed", failed)
    assert "failed to apply" in webhook_body(files, "app-sync-failed", failed)["text"]


def test_every_trigger_is_subscribed(files):
    cm = yaml.safe_load(open(files["cm"]))
    triggers = {key.removeprefix("trigger.") for key in cm["data"] if key.startswith("trigger.")}
    subscribed = {t for sub in yaml.safe_load(cm["data"]["subscriptions"]) for t in sub["triggers"]}
    assert triggers == subscribed
