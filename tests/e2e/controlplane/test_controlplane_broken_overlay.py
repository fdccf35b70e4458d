"""Overlays that pass the static gate's schema check but that a real API server rejects.

Each case first proves kubeconform (as the gate runs it) accepts the manifests, so the only
thing that can catch them is the e2e apply, and then that the e2e reports them readably:
source file, kind/namespace/name and the server's own reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.controlplane.apply import split_prerequisites
from tools.gate import render, schema
from tools.gate.paths import read_versions

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"


def _kubeconform_accepts(items, tmp_path) -> None:
    version = read_versions()["K8S_TARGET_VERSION"]
    errors = schema.validate([item.obj for item in items], version, tmp_path / "kubeconform")
    assert not errors, f"kubeconform rejected the fixture, so it proves nothing: {errors}"


def test_invalid_values_pass_kubeconform_but_the_server_rejects_them(scratch_plane, tmp_path):
    items = render.render_with_sources(FIXTURES / "invalid-values")
    _kubeconform_accepts(items, tmp_path)

    prerequisites, rest = split_prerequisites(items)
    assert not scratch_plane.applier.apply(prerequisites, dry_run=False, batch="broken-ns").rejected
    result = scratch_plane.applier.apply(rest, dry_run=True, batch="broken")

    assert result.accepted == [], f"the server accepted broken objects: {result.accepted}"
    messages = {rejection.key.kind: str(rejection) for rejection in result.rejected}
    hpa = messages["HorizontalPodAutoscaler"]
    assert "hpa-min-above-max.yaml" in hpa and "e2e-broken/web-min-above-max" in hpa
    assert "spec.maxReplicas" in hpa and "minReplicas" in hpa
    pdb = messages["PodDisruptionBudget"]
    assert "pdb-both-budgets.yaml" in pdb and "minAvailable" in pdb and "maxUnavailable" in pdb
    label = messages["ConfigMap"]
    assert "configmap-bad-label.yaml" in label and "metadata.labels" in label and "data platform" in label
    # The whole report is what a developer reads in CI.
    print("\n".join(str(rejection) for rejection in result.rejected))


def test_immutable_field_change_passes_kubeconform_but_the_server_rejects_it(scratch_plane, tmp_path):
    first = render.render_with_sources(FIXTURES / "immutable-v1")
    second = render.render_with_sources(FIXTURES / "immutable-v2")
    _kubeconform_accepts(first, tmp_path / "v1")
    _kubeconform_accepts(second, tmp_path / "v2")

    created = scratch_plane.applier.apply(first, dry_run=False, batch="immutable-v1")
    assert not created.rejected, "\n".join(map(str, created.rejected))

    # Dry run first, as the e2e does: the server already catches it there.
    changed = scratch_plane.applier.apply(second, dry_run=True, batch="immutable-v2", force_conflicts=True)
    rejected = {rejection.key.kind: str(rejection) for rejection in changed.rejected}
    assert set(rejected) == {"Deployment", "Service"}, changed  # the Namespace is unchanged: accepted
    assert "e2e-immutable/web" in rejected["Deployment"]
    assert "spec.selector" in rejected["Deployment"] and "immutable" in rejected["Deployment"]
    assert "spec.clusterIP" in rejected["Service"] and "may not change once set" in rejected["Service"]
    assert "immutable-v2/web.yaml" in rejected["Service"]

    # And the live objects are untouched.
    live = scratch_plane.get(next(i.obj for i in first if i.obj["kind"] == "Service"))
    assert live["spec"]["clusterIP"] == "10.96.100.10"
