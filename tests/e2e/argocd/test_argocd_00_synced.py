"""From a clean cluster (make platform-up), every Application of clusters/local is Synced and
Healthy with real pods, the sync waves completed in the order the annotations say, and the
Applications Argo CD's ApplicationSet controller made are the ones the static gate computes, and
what Argo CD renders for each of them is what the gate rendered."""
from __future__ import annotations

from datetime import datetime

import pytest
import yaml
from conftest import app_state, expected_applications

from tools.gate.render import render
from tools.gate.units import app_unit, platform_source
from tools.k8s import layout as L
from tools.platform.platform import CLUSTER, Platform, run_argocd

pytestmark = pytest.mark.e2e

EXPECTED = {a["metadata"]["name"]: a for a in expected_applications()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_application_is_synced_and_healthy(platform, name):
    sync, health, revision = Platform.state(app_state(platform, name))
    assert (sync, health) == ("Synced", "Healthy"), f"{name}: {sync}/{health} at {revision}"


def test_the_cluster_has_exactly_the_expected_applications(platform):
    assert sorted(platform.applications()) == sorted(EXPECTED)


def test_pods_of_every_application_namespace_are_ready(platform):
    namespaces = sorted({a["spec"]["destination"]["namespace"] for a in EXPECTED.values()} - {""})
    not_ready = []
    for namespace in namespaces:
        pods = platform.kubectl("-n", namespace, "get", "pods", "-o",
                                "jsonpath={range .items[*]}{.metadata.name} {.status.phase} "
                                "{.status.containerStatuses[*].ready}{'\\n'}{end}").stdout
        for line in filter(None, pods.splitlines()):
            name, phase, *ready = line.split()
            if phase == "Succeeded":
                continue  # a finished Job's pod
            if phase != "Running" or "false" in ready:
                not_ready.append(f"{namespace}/{name} {phase} {ready}")
    assert not_ready == []


def test_sync_waves_of_generated_applications_order_nothing(platform):
    """A finding, kept as a test so it is noticed when it changes: the sync-wave annotations on the
    Applications an ApplicationSet generates are only honoured by a parent Application that syncs
    them (app-of-apps). Here the root syncs the ApplicationSets, and the ApplicationSet controller
    creates every Application at once, so apps of a later wave start syncing before earlier waves
    are Healthy; the cluster converges through sync retries (CRDs first by chance, then the rest).
    Ordering them needs the ApplicationSet progressive sync (RollingSync), not enabled here."""
    apps = {name: app_state(platform, name) for name in EXPECTED if name != "root"}
    wave = {n: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for n, a in apps.items()}
    started = {n: min(datetime.fromisoformat(h["deployStartedAt"].replace("Z", "+00:00"))
                      for h in a["status"]["history"]) for n, a in apps.items()}
    order = sorted(apps, key=lambda n: started[n])
    print("first sync started, in order (name, wave):", [(n, wave[n]) for n in order])
    created = {n: a["metadata"]["creationTimestamp"] for n, a in apps.items()}
    spread = (max(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in created.values())
              - min(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in created.values()))
    assert spread.total_seconds() < 60, f"Applications created over {spread}: waves may be honoured now"


FIELDS = ("project", "destination", "sources", "ignoreDifferences")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_argocd_generates_what_the_gate_computes(platform, name):
    """tools/gate/appset.py renders the ApplicationSets as Argo CD does; here Argo CD's own
    controller is the judge."""
    live = app_state(platform, name)["spec"]
    want = EXPECTED[name]["spec"]
    for field in FIELDS:
        assert live.get(field) == want.get(field), f"{name}: spec.{field} differs from the gate's rendering"
    assert live["syncPolicy"].get("automated") == want["syncPolicy"].get("automated")
    assert live["syncPolicy"].get("syncOptions") == want["syncPolicy"].get("syncOptions")


TRACKING = "argocd.argoproj.io/tracking-id"
HOOK = "argocd.argoproj.io/hook"


def _key(obj: dict, namespace: str) -> tuple[str, str, str, str]:
    group = obj["apiVersion"].rpartition("/")[0]
    return group, obj["kind"], obj["metadata"].get("namespace", namespace), obj["metadata"]["name"]


@pytest.mark.parametrize("name", sorted(n for n, a in EXPECTED.items() if n != "root" and platform_source(a)))
def test_argocd_renders_what_the_gate_validated(platform, name):
    """Every object the gate renders for the Application (tools/gate/units.py) is, field for field,
    one Argo CD's repo-server renders from the same commit: the policies and tests judged what runs.
    Argo CD adds a cluster's kustomize components to the end of the overlay's own list, so the
    overlay's patches apply after them; a gate that rendered the component last showed the local
    issuer while Argo CD applied dev's (test_argocd_40_login failed on it). Hooks (Jobs run by a
    sync) are not among `app manifests`; a multi-source Application has the upstream sources' too."""
    namespace = EXPECTED[name]["spec"]["destination"].get("namespace", "")
    ours = {_key(o, namespace): o for o in render(app_unit(CLUSTER, name, L.ROOT))
            if HOOK not in (o["metadata"].get("annotations") or {})}
    theirs: dict[tuple, list[dict]] = {}  # upstream's install and our overlay both have argocd-cm
    for obj in yaml.safe_load_all(run_argocd("app", "manifests", name, "--source", "git", k8s=platform.k8s).stdout):
        if obj:
            annotations = obj["metadata"].get("annotations") or {}
            annotations.pop(TRACKING, None)
            if not annotations:
                obj["metadata"].pop("annotations", None)
            theirs.setdefault(_key(obj, namespace), []).append(obj)
    assert sorted(set(ours) - set(theirs)) == [], f"{name}: the gate renders objects Argo CD does not"
    differ = {k: (ours[k], theirs[k]) for k in ours if ours[k] not in theirs[k]}
    assert not differ, f"{name}: Argo CD renders these differently from the gate: {sorted(differ)}\n" + "\n".join(
        f"{k}:\n gate:   {o}\n argocd: {t}" for k, (o, t) in list(differ.items())[:2])
