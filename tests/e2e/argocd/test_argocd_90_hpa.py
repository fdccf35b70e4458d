"""HPA vs Argo CD (argoproj/argo-cd #3002): git carries no `replicas` for an HPA's target, so an
apply that took the field would give Kubernetes' default of one; the HPA (real metrics from
metrics-server) wants more, and over at least five minutes, through every sync the other tests of
this suite cause (merges, a refused merge and its revert, an image rollout, selfHeal), Argo CD never
puts the replicas back: `ignoreDifferences` on /spec/replicas with RespectIgnoreDifferences. The
Applications go OutOfSync only while a commit of the suite changes them and end Synced. The sampler
runs for the whole suite (conftest.ReplicaHistory); this file, last, waits until five minutes are
covered."""
from __future__ import annotations

import itertools
import time

import pytest
from conftest import HPA_TARGETS, app_state, wait_for

from tools.platform.platform import Platform

pytestmark = pytest.mark.e2e

WINDOW = 300  # seconds
DEFAULT_REPLICAS = 1  # a Deployment without `replicas`, as git declares the HPAs' targets


def changes(samples: list[dict], app: str) -> list[str]:
    """The history printed compactly: one line per change of (replicas, desired, sync)."""
    lines, last = [], None
    for sample in samples:
        state = sample.get(app) and (sample[app]["replicas"], sample[app]["desired"], sample[app]["sync"])
        if state and state != last:
            lines.append(f"  {sample['t']:7.1f}s  replicas={state[0]} hpa-desired={state[1]} sync={state[2]}")
            last = state
    return lines


def syncs_seen(samples: list[dict], app: str) -> int:
    """How often the Application came back to Synced from another state."""
    return sum(1 for before, after in itertools.pairwise(samples)
               if before[app]["sync"] != "Synced" and after[app]["sync"] == "Synced")


def test_the_hpa_owns_the_replicas_and_argocd_never_fights_it(platform, replica_history):
    if replica_history.elapsed() < WINDOW:
        time.sleep(WINDOW - replica_history.elapsed())
    samples = [s for s in replica_history.stop() if "error" not in s]
    assert samples and samples[-1]["t"] - samples[0]["t"] >= WINDOW - 2 * replica_history.INTERVAL, \
        f"the sampler covered only {samples[-1]['t'] - samples[0]['t'] if samples else 0:.0f}s"
    for app in HPA_TARGETS:
        print(f"{app} ({HPA_TARGETS[app][1]}): {len(samples)} samples over {samples[-1]['t']:.0f}s")
        print("\n".join(changes(samples, app)))

    scaled = {app for app in HPA_TARGETS if any((s[app]["replicas"] or 0) > DEFAULT_REPLICAS for s in samples)}
    assert scaled, "no HPA ever took its target above one replica: nothing was proved"
    for app in scaled:
        first = next(i for i, s in enumerate(samples) if (s[app]["replicas"] or 0) > DEFAULT_REPLICAS)
        after = samples[first:]
        # A fight shows as the replicas back at the default while the HPA wants more, and wanted more
        # a sample earlier too (so it had set its count already; the Deployment and the HPA are read
        # a moment apart, and an HPA may scale up in between: `local`'s API server HPA follows CPU).
        fights = [s for prev, s in itertools.pairwise(after) if s[app]["replicas"] == DEFAULT_REPLICAS
                  and (s[app]["desired"] or 0) > DEFAULT_REPLICAS and (prev[app]["desired"] or 0) > DEFAULT_REPLICAS]
        assert not fights, f"{app}: replicas set back to {DEFAULT_REPLICAS} while the HPA wanted more: {fights[:3]}"
    # The window must hold syncs, or nothing was proved about them: OutOfSync -> Synced transitions.
    syncs = {app: syncs_seen(samples, app) for app in scaled}
    print(f"syncs seen while the HPAs held their replicas: {syncs}")
    assert any(syncs.values()), f"no sync of {sorted(scaled)} in the window"
    # Each OutOfSync above was a commit of this suite (the image bump changes airflow too: its
    # ETL_JOB_IMAGE), never the replicas; at the end both Applications are Synced again.
    wait_for(lambda: all(Platform.state(app_state(platform, app))[0] == "Synced" for app in HPA_TARGETS),
             "both Applications Synced at the end", 120, 2)
