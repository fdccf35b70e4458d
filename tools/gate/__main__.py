"""`python -m tools.gate`: the static gate behind `make validate`.

Without arguments it checks every cluster under clusters/. `--path DIR --cluster NAME` checks one
kustomization directory as if it were deployed to cluster NAME (used by the bad-input corpus).
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import paths, policy
from .findings import Finding
from .run import check


def main(argv: list[str] | None = None) -> int:
    versions = paths.read_versions()
    parser = argparse.ArgumentParser(prog="python -m tools.gate", description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", action="append", help="cluster(s) to check (default: all)")
    parser.add_argument("--path", type=Path, help="check this kustomization directory instead of a cluster")
    parser.add_argument("--config", type=Path, help="policy config (default policies/config/<cluster>.yaml)")
    parser.add_argument("--exceptions", type=Path, help="exceptions file (default policies/exceptions.yaml; none with --path)")
    parser.add_argument("--kubernetes-version", action="append", dest="kubernetes_versions",
                        help="Kubernetes versions to validate against (default: target and next minor)")
    parser.add_argument("--json", type=Path, help="also write the findings as JSON here")
    parser.add_argument("--show-parity", action="store_true",
                        help="print one line per pod: do the Rego rules and Kubernetes' Pod Security code agree")
    args = parser.parse_args(argv)

    k8s_versions = args.kubernetes_versions or [versions["K8S_TARGET_VERSION"], versions["K8S_NEXT_VERSION"]]
    try:
        if args.path:
            cluster = (args.cluster or ["dev"])[0]
            jobs = [(cluster, [args.path.resolve()], [args.path.resolve()], False)]
            exceptions = policy.load_exceptions(args.exceptions) if args.exceptions else []
        else:
            clusters = args.cluster or paths.clusters()
            lint_targets = [paths.CLUSTERS_DIR, paths.APPS_DIR, paths.POLICY_DIR]
            jobs = [(c, paths.render_units(c), lint_targets if i == 0 else [], True) for i, c in enumerate(clusters)]
            exceptions = policy.load_exceptions(args.exceptions)
        configs = [policy.load_cluster_config(cluster, args.config) for cluster, *_ in jobs]
        # clusters are independent: check them side by side (each one is mostly waiting on tools)
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            results = list(pool.map(
                lambda job, config: check(job[0], job[1], job[2], config, exceptions, k8s_versions, job[3]),
                jobs, configs))
    except (policy.ConfigError, paths.ToolMissing) as exc:
        print(f"gate: {exc}", file=sys.stderr)
        return 2

    findings: list[Finding] = [f for r in results for f in r.findings]
    if not args.path and not args.cluster:
        used = set().union(*(r.used_exceptions for r in results)) if results else set()
        for i, e in enumerate(exceptions):
            if i not in used:
                findings.append(Finding(
                    ",".join(e.get("clusters", ["all"])), paths.rel(paths.EXCEPTIONS_FILE),
                    f"{paths.rel(paths.EXCEPTIONS_FILE)}: exceptions[{i}]",
                    f"{e['kind']} {e.get('namespace', '')}/{e['name']}".replace(" /", " "), "stale-exception",
                    f"exception for {e['rule']} matches nothing", "delete the entry (the object or the rule is gone)"))

    if args.show_parity:
        for r in results:
            for row in r.parity_rows:
                where = f"{row['object']}" + (f" ({row['pod']} pod)" if row["pod"] else "")
                print(f"parity [{r.cluster}] {row['source']}: {where} at {row['level']}: "
                      f"{'agree' if row['agree'] else 'DISAGREE'} (oracle fails: {', '.join(row['oracle_fails']) or 'none'})")
    for f in findings:
        print(f.render())
    for r in results:
        print(f"gate: {r.cluster}: {r.units} kustomizations rendered, {r.objects} objects, "
              f"{len(r.findings)} failures ({r.seconds:.1f}s; Kubernetes {', '.join(k8s_versions)})")
    for r in results:
        p = r.parity
        if p is None:
            continue
        skipped = f", {len(p.skipped)} not decodable (schema failures)" if p.skipped else ""
        print(f"gate: {r.cluster}: Pod Security parity with {p.module}: {len(p.objects)} objects, {p.pods} pods "
              f"compared, {p.agreed} agree, {len(p.disagreements)} disagree{skipped}")
    total = sum(r.objects for r in results)
    compared = [r.parity for r in results if r.parity is not None]
    parity = (f"; Pod Security oracle: {sum(len(p.objects) for p in compared)} objects, "
              f"{sum(p.pods for p in compared)} pods compared, "
              f"{sum(len(p.disagreements) for p in compared)} disagreements")
    print(f"gate: {total} objects checked in {len(results)} cluster(s), {len(findings)} failures{parity}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "objects": total, "failures": [f.as_dict() for f in findings],
            "clusters": [{"cluster": r.cluster, "objects": r.objects, "units": r.units, "seconds": r.seconds,
                          "pod_security_parity": None if r.parity is None else {
                              "module": r.parity.module, "objects": len(r.parity.objects), "pods": r.parity.pods,
                              "agreed": r.parity.agreed, "disagreed": len(r.parity.disagreements),
                              "skipped": len(r.parity.skipped), "pods_compared": r.parity_rows}}
                         for r in results]}, indent=2))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
