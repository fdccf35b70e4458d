"""Time the control plane: start-up, CRD install and server-side apply per cluster.

Prints the figures and keeps them in .run/bench/controlplane.json (with the last build times
recorded by build.sh), so they are compared across runs instead of asserted in tests.

    python -m tools.controlplane.bench [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from tools.controlplane.apply import Applier, load_crds, render_cluster, split_prerequisites
from tools.controlplane.cluster import ROOT, ControlPlane

RUN_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
TOOLS_DIR = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools"))


def bench_cluster(cluster: str) -> dict:
    plane = ControlPlane(RUN_DIR / "controlplane-bench" / cluster)
    result: dict = {"cluster": cluster}
    try:
        result["start_seconds"] = plane.up()
        applier = Applier(plane.kubeconfig, plane.state_dir / "apply")
        started = time.monotonic()
        manifests = render_cluster(cluster).items
        result["render_seconds"] = round(time.monotonic() - started, 2)
        crds = load_crds()
        crd_result = applier.apply(crds, dry_run=False, batch="crds")
        applier.wait_crds_established([c.obj["metadata"]["name"] for c in crds])
        result["crds_seconds"] = crd_result.seconds
        prerequisites, rest = split_prerequisites(manifests)
        applier.apply(prerequisites, dry_run=False, batch="prerequisites")
        result["dry_run_seconds"] = applier.apply(rest, dry_run=True, batch="dry-run").seconds
        applied = applier.apply(manifests, dry_run=False, batch="apply")
        result["apply_seconds"] = applied.seconds
        result["reapply_seconds"] = applier.apply(manifests, dry_run=False, batch="reapply").seconds
        result["objects"] = len(manifests)
        result["rejected"] = len(applied.rejected)
        result["summary"] = applied.summary(cluster)
    finally:
        plane.down()
    return result


def build_times() -> list[str]:
    log = TOOLS_DIR / "controlplane-build-times.txt"
    return log.read_text().splitlines() if log.is_file() else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RUN_DIR / "bench" / "controlplane.json")
    args = parser.parse_args()
    clusters = sorted(p.name for p in (ROOT / "clusters").iterdir() if p.is_dir())
    report = {"clusters": [bench_cluster(c) for c in clusters], "build_log": build_times()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for entry in report["clusters"]:
        print(f"{entry['summary']}; start {entry['start_seconds']['total']}s, CRDs {entry['crds_seconds']}s, "
              f"dry-run {entry['dry_run_seconds']}s, apply {entry['apply_seconds']}s, "
              f"re-apply {entry['reapply_seconds']}s")
    for line in report["build_log"][-8:]:
        print(f"build: {line}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
