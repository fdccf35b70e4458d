"""Fixtures for the control-plane e2e: one fresh control plane per cluster overlay.

A fresh control plane per cluster (instead of cleaning between clusters) keeps dev and prod from
seeing each other's cluster-scoped objects; a start costs seconds, not minutes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client, config, dynamic

from tools.clusters import names as cluster_names
from tools.controlplane.apply import (
    Applier,
    ApplyResult,
    load_crds,
    render_cluster,
    split_prerequisites,
)
from tools.controlplane.cluster import COMPONENTS, ROOT, TOOLS_BIN, ControlPlane

RUN_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
E2E_ROOT = RUN_DIR / "controlplane-e2e"
# One directory per pytest process: two e2e runs at once (a developer and CI on one machine)
# must not share etcd data or PID files.
E2E_STATE = E2E_ROOT / f"session-{os.getpid()}"
CLUSTERS = cluster_names(ROOT)
# An empty parameter list would silently skip every cluster test: fail loudly instead.
NO_CLUSTER = "(no clusters/<env>/kustomization.yaml)"

# Lines printed at the end of the run ("<cluster>: N objects applied, 0 rejected", timings).
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("control plane e2e")
        for line in SUMMARY:
            terminalreporter.write_line(line)
        E2E_STATE.mkdir(parents=True, exist_ok=True)
        (E2E_STATE / "summary.txt").write_text("\n".join(SUMMARY) + "\n")
        terminalreporter.write_line(f"state and component logs: {E2E_STATE}")


def _remove_finished_sessions() -> None:
    """Drop state of earlier runs whose pytest process is gone (their planes were stopped)."""
    for session in E2E_ROOT.glob("session-*"):
        pid = session.name.removeprefix("session-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(session, ignore_errors=True)


@pytest.fixture(scope="session")
def e2e_state_dir() -> Path:
    _remove_finished_sessions()
    E2E_STATE.mkdir(parents=True, exist_ok=True)
    return E2E_STATE


@pytest.fixture(scope="session")
def binaries_built(e2e_state_dir):
    missing = [name for name in COMPONENTS if not (TOOLS_BIN / name).is_file()]
    if missing:
        pytest.fail(f"control-plane binaries missing in {TOOLS_BIN}: {missing}; run `make controlplane-build`")


@dataclass
class LivePlane:
    """A running control plane plus clients for it."""

    plane: ControlPlane
    applier: Applier
    api: client.ApiClient
    dynamic: dynamic.DynamicClient
    timings: dict[str, float]

    def get(self, manifest: dict) -> dict | None:
        """The live object for a manifest (None if absent)."""
        resource = self.dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        metadata = manifest["metadata"]
        try:
            if resource.namespaced:
                found = resource.get(name=metadata["name"], namespace=metadata.get("namespace", "default"))
            else:
                found = resource.get(name=metadata["name"])
        except dynamic.exceptions.NotFoundError:
            return None
        return found.to_dict()


def start_plane(name: str) -> LivePlane:
    plane = ControlPlane(E2E_STATE / name)
    timings = plane.up()
    api = config.new_client_from_config(config_file=str(plane.kubeconfig))
    applier = Applier(plane.kubeconfig, plane.state_dir / "apply")
    return LivePlane(plane, applier, api, dynamic.DynamicClient(api), timings)


@dataclass
class ClusterRun:
    """What happened when one cluster's manifests were applied."""

    cluster: str
    live: LivePlane
    manifests: list = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    crds: ApplyResult | None = None
    prerequisites: ApplyResult | None = None
    dry_run: ApplyResult | None = None
    applied: ApplyResult | None = None


@pytest.fixture(scope="session", params=CLUSTERS or [NO_CLUSTER])
def cluster_run(request, binaries_built) -> ClusterRun:
    """Fresh control plane for one cluster: CRDs installed, the cluster's manifests applied.

    Session-scoped: pytest groups every test of one cluster, then stops that control plane
    before starting the next cluster's.
    """
    cluster = request.param
    if cluster == NO_CLUSTER:
        pytest.fail(f"nothing to apply: {NO_CLUSTER}")
    live = start_plane(cluster)
    SUMMARY.append(f"{cluster}: control plane ready in {live.timings['total']}s {live.timings}")
    try:
        rendered = render_cluster(cluster)
        run = ClusterRun(cluster, live, manifests=rendered.items, conflicts=rendered.conflicts)
        if not run.manifests:
            pytest.fail(f"clusters/{cluster} and what its Applications sync render no objects")
        crds = load_crds()
        run.crds = live.applier.apply(crds, dry_run=False, batch="crds")
        live.applier.wait_crds_established([r.obj["metadata"]["name"] for r in crds])
        prerequisites, rest = split_prerequisites(run.manifests)
        run.prerequisites = live.applier.apply(prerequisites, dry_run=False, batch="prerequisites")
        live.applier.wait_crds_established(
            [r.obj["metadata"]["name"] for r in prerequisites if r.obj["kind"] == "CustomResourceDefinition"]
        )
        run.dry_run = live.applier.apply(rest, dry_run=True, batch="dry-run")
        run.applied = live.applier.apply(run.manifests, dry_run=False, batch="apply")
        SUMMARY.append(
            f"{cluster}: {len(run.crds.accepted)} CRDs installed in {run.crds.seconds}s; "
            f"server dry-run {run.dry_run.seconds}s, "
            f"apply {run.applied.seconds}s"
        )
        SUMMARY.append(run.applied.summary(cluster))
        yield run
    finally:
        live.api.close()
        live.plane.down()


@pytest.fixture(scope="module")
def scratch_plane(binaries_built) -> LivePlane:
    """A control plane for the fixture overlays (broken manifests, rule checks)."""
    live = start_plane("scratch")
    try:
        yield live
    finally:
        live.api.close()
        live.plane.down()
