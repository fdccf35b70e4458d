"""HPA vs Argo CD: the spark-worker HPA sets the Deployment's replicas from real metrics
(metrics-server) and the Application stays Synced the whole time, with no replica fight: Argo CD
never writes spec.replicas (ignoreDifferences + RespectIgnoreDifferences). Sampled for the whole
session, at least five minutes."""
from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.e2e

WINDOW = 300


def test_hpa_owns_replicas_and_the_application_stays_synced(platform, replica_history):
    remaining = WINDOW - (time.time() - replica_history.samples[0]["t"]) if replica_history.samples else WINDOW
    if remaining > 0:
        time.sleep(remaining)
    samples = [s for s in replica_history.samples if "error" not in s]
    print("t(s) desired replicas sync")
    for sample in samples[::6]:
        print(f"{sample['t'] - samples[0]['t']:6.0f} {sample['desired']} {sample['replicas']} {sample['sync']}")
    assert samples[-1]["t"] - samples[0]["t"] >= WINDOW - 10
    out_of_sync = [s for s in samples if s["sync"] != "Synced"]
    assert len(out_of_sync) <= 2, f"spark-standalone left Synced: {out_of_sync}"
    deployment = json.loads(platform.kubectl("-n", "spark", "get", "deployment", "spark-worker", "-o", "json").stdout)
    assert deployment["spec"]["replicas"] > 1, "the HPA never scaled spark-worker out"
    owners = [m["manager"] for m in deployment["metadata"]["managedFields"]
              if "f:replicas" in json.dumps(m.get("fieldsV1", {}).get("f:spec", {}))]
    assert owners and all("argocd" not in o for o in owners), f"spec.replicas written by {owners}"
