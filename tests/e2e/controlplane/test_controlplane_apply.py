"""Every cluster overlay, server-side applied to a real API server, as Argo CD would sync it."""

from __future__ import annotations

import pytest

from tools.controlplane.apply import ObjectKey

pytestmark = pytest.mark.e2e


def _rejections(result) -> str:
    return "\n".join(str(rejection) for rejection in result.rejected)


def test_no_object_is_defined_twice_with_different_content(cluster_run):
    assert not cluster_run.conflicts, "\n".join(cluster_run.conflicts)


def test_platform_crds_install(cluster_run):
    assert cluster_run.crds.accepted, "no CRDs were installed"
    assert not cluster_run.crds.rejected, _rejections(cluster_run.crds)


def test_server_side_dry_run_accepts_every_object(cluster_run):
    assert not cluster_run.prerequisites.rejected, _rejections(cluster_run.prerequisites)
    assert not cluster_run.dry_run.rejected, _rejections(cluster_run.dry_run)


def test_server_side_apply_accepts_every_object(cluster_run):
    applied = cluster_run.applied
    assert not applied.rejected, f"{applied.summary(cluster_run.cluster)}\n{_rejections(applied)}"
    assert len(applied.accepted) == len(cluster_run.manifests)


def test_every_applied_object_exists_on_the_server(cluster_run):
    missing = [
        f"{item.source}: {ObjectKey.of(item.obj)}"
        for item in cluster_run.manifests
        if cluster_run.live.get(item.obj) is None
    ]
    assert not missing, "applied but not found on the server:\n" + "\n".join(missing)


def _our_apply_entry(live: dict, manager: str) -> dict | None:
    for entry in live["metadata"].get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            return entry
    return None


def _scale_updates(obj: dict) -> list[dict]:
    return [e for e in obj["metadata"].get("managedFields", []) if e.get("subresource") == "scale"]


def test_reapply_is_a_no_op(cluster_run):
    """A second sync of the same manifests changes nothing the manifests own.

    Controllers keep writing status (so resourceVersion alone may move); a real change by the
    re-apply would bump metadata.generation or our field manager's managedFields entry.
    """
    live = cluster_run.live
    manager = live.applier.field_manager
    before = {ObjectKey.of(item.obj): (item.obj, live.get(item.obj)) for item in cluster_run.manifests}
    again = live.applier.apply(cluster_run.manifests, dry_run=False, batch="reapply")
    assert not again.rejected, "\n".join(str(r) for r in again.rejected)

    changed = []
    unchanged_resource_versions = 0
    for key, (manifest, old) in before.items():
        new = live.get(manifest)
        old_meta, new_meta = old["metadata"], new["metadata"]
        if old_meta["resourceVersion"] == new_meta["resourceVersion"]:
            unchanged_resource_versions += 1
            continue
        ours_moved = _our_apply_entry(old, manager) != _our_apply_entry(new, manager)
        generation_moved = old_meta.get("generation") != new_meta.get("generation")
        # An HPA scaling its target meanwhile (the scale subresource, another manager) bumps the
        # generation too; that is not the re-apply's doing, and our own entry shows whether it was.
        if generation_moved and not ours_moved and _scale_updates(old) != _scale_updates(new):
            continue
        if generation_moved or ours_moved:
            changed.append(f"{key}: generation {old_meta.get('generation')} -> {new_meta.get('generation')}")
    assert not changed, "re-applying the same manifests changed objects:\n" + "\n".join(changed)
    # Most objects have no controller writing to them; their resourceVersion must not move at all.
    assert unchanged_resource_versions > len(before) // 2, (
        f"only {unchanged_resource_versions}/{len(before)} objects kept their resourceVersion"
    )


def test_no_plaintext_secret_was_applied(cluster_run):
    """Secrets come from External Secrets at runtime; our manifests create none with data."""
    with_data = [
        f"{item.source}: {ObjectKey.of(item.obj)}"
        for item in cluster_run.manifests
        if item.obj.get("kind") == "Secret" and (item.obj.get("data") or item.obj.get("stringData"))
    ]
    assert not with_data, "plaintext Secret in the manifests:\n" + "\n".join(with_data)

    # On the server: every Secret with data must come from somewhere other than our manifests.
    secrets = cluster_run.live.dynamic.resources.get(kind="Secret", group="").get()
    ours = [
        f"{s.metadata.namespace}/{s.metadata.name}"
        for s in secrets.items
        if s.data and any(
            entry.manager == cluster_run.live.applier.field_manager for entry in s.metadata.managedFields or []
        )
    ]
    assert not ours, f"Secrets with data applied by {cluster_run.live.applier.field_manager}: {ours}"
