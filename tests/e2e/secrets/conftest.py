"""A fresh local control plane with the dev cluster applied, for the rotate-secret e2e.

The plane, its clients and the apply steps are the control-plane e2e's own (imported, not copied),
so this suite applies the dev cluster exactly as that suite does.
"""
from __future__ import annotations

import time

import pytest
from kubernetes import client

# Imported fixtures are registered for this directory as well.
from tests.e2e.controlplane.conftest import binaries_built, e2e_state_dir, start_plane  # noqa: F401
from tools.controlplane.apply import load_crds, render_cluster, split_prerequisites

CLUSTER = "dev"


def wait_for(condition, what: str, timeout_seconds: float = 90, interval: float = 0.5):
    """Poll until condition() returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout_seconds}s waiting for {what}")


def owned_replica_sets(apps: client.AppsV1Api, deployment) -> list:
    replica_sets = apps.list_namespaced_replica_set(deployment.metadata.namespace).items
    return [rs for rs in replica_sets
            if any(ref.uid == deployment.metadata.uid for ref in rs.metadata.owner_references or [])]


@pytest.fixture(scope="module")
def dev_plane(binaries_built):  # noqa: F811
    """Control plane with every CRD and every object of the dev cluster applied; stopped afterwards."""
    started = time.monotonic()
    live = start_plane("secrets-rotate")
    try:
        rendered = render_cluster(CLUSTER)
        crds = load_crds()
        live.applier.apply(crds, dry_run=False, batch="crds")
        live.applier.wait_crds_established([item.obj["metadata"]["name"] for item in crds])
        prerequisites, _rest = split_prerequisites(rendered.items)
        live.applier.apply(prerequisites, dry_run=False, batch="prerequisites")
        live.applier.wait_crds_established(
            [i.obj["metadata"]["name"] for i in prerequisites if i.obj["kind"] == "CustomResourceDefinition"])
        applied = live.applier.apply(rendered.items, dry_run=False, batch="apply")
        if applied.rejected:
            pytest.fail("dev cluster not applied:\n" + "\n".join(str(r) for r in applied.rejected))

        # Let the Deployment controller create each first ReplicaSet, so a second one is news.
        apps = client.AppsV1Api(live.api)

        def first_replica_sets_exist():
            deployments = apps.list_deployment_for_all_namespaces().items
            return deployments and all(owned_replica_sets(apps, d) for d in deployments)

        wait_for(first_replica_sets_exist, "the first ReplicaSet of every dev Deployment")
        print(f"\nsecrets e2e: dev cluster applied ({len(applied.accepted)} objects) on a fresh control "
              f"plane in {time.monotonic() - started:.1f}s")
        yield live
    finally:
        live.api.close()
        live.plane.down()
