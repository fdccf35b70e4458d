"""Bases belong to no cluster and overlays say only what differs: no base names a cluster's own
endpoints or buckets, an overlay of a synced app renders something other than its base, and no file
in it repeats the base's file of the same name. Where every cluster would be the base, the app has
no overlays (`sameInEveryCluster`) instead."""
from __future__ import annotations

import re

import pytest
from platform_render import CLUSTERS, ROOT, render

SYNCED_APPS = sorted(p.parent.name for p in ROOT.glob("apps/*/application.yaml"))
OVERLAYS = sorted(str(p.parent.relative_to(ROOT)) for app in SYNCED_APPS
                  for p in ROOT.glob(f"apps/{app}/overlays/*/kustomization.yaml"))


BASE_FILES = sorted(p for p in ROOT.glob("apps/*/base/**/*") if p.is_file())
# What only one cluster has: its hostnames and buckets are named mlops-<cluster>.
CLUSTER_VALUE = re.compile(rf"mlops-({'|'.join(map(re.escape, CLUSTERS))})\b")


def test_no_base_carries_a_clusters_values():
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in BASE_FILES
             for m in CLUSTER_VALUE.finditer(p.read_text(errors="replace"))]
    assert found == [], "move these into apps/<app>/overlays/<cluster>"


def test_there_are_overlays_to_check():
    assert "apps/external-secrets/overlays/prod" in OVERLAYS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_changes_something_of_its_base(overlay):
    base = overlay.split("/overlays/")[0] + "/base"
    assert render(overlay) != render(base), f"{overlay} restates {base}: sync the base, or say the difference"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_overlay_file_repeats_a_base_file(overlay):
    base = ROOT / overlay.split("/overlays/")[0] / "base"
    for path in (ROOT / overlay).iterdir():
        twins = [b for b in base.rglob(path.name) if b.read_bytes() == path.read_bytes()]
        assert not twins, f"{path.relative_to(ROOT)} equals {twins[0].relative_to(ROOT)}"
