"""Run the gate on one cluster (or one fixture directory) and collect findings."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import appset, oracle, paths, policy, schema
from .embedded import embedded_pods
from .findings import Finding, object_id
from .lint import lint
from .render import Rendered, RenderError, render_with_sources


@dataclass
class ClusterResult:
    cluster: str
    units: int = 0
    objects: int = 0
    yaml_files: int = 0
    findings: list[Finding] = field(default_factory=list)
    used_exceptions: set[int] = field(default_factory=set)
    seconds: float = 0.0
    parity: oracle.Comparison | None = None
    parity_rows: list[dict] = field(default_factory=list)  # per pod: where it is and whether both agree


def _render_unit(unit: Path) -> list[Rendered] | RenderError:
    try:
        return render_with_sources(unit)
    except RenderError as exc:
        return exc


def _generated_applications(unit: Path, outcome: list[Rendered]) -> list[Rendered]:
    """A cluster entry's ApplicationSets are checked together with the Applications they make
    (schemas, policies), so a template that yields an invalid Application fails here."""
    if unit.parent.name != "clusters":
        return []
    root = unit.parent.parent
    out = []
    for item in outcome:
        if item.obj.get("kind") == "ApplicationSet":
            for app in appset.generate(item.obj, root):
                name = app["metadata"]["name"]
                source = f"apps/{name}/application.yaml (ApplicationSet {item.obj['metadata']['name']})"
                out.append(Rendered(app, source))
    return out


def check(cluster: str, units: list[Path], lint_targets: list[Path], config: dict,
          exceptions: list[dict], kubernetes_versions: list[str], respect_ignores: bool = True) -> ClusterResult:
    started = time.monotonic()
    result = ClusterResult(cluster, units=len(units))
    result.yaml_files, lint_findings = lint(lint_targets, cluster, respect_ignores)
    result.findings += lint_findings

    rendered: list[Rendered] = []
    unit_of: list[str] = []
    # kustomize builds are separate processes: run them side by side, keep the results in unit order
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(_render_unit, units))
    for unit, outcome in zip(units, outcomes, strict=True):
        if isinstance(outcome, RenderError):
            result.findings.append(Finding(
                cluster, paths.rel(unit), paths.rel(unit), "(kustomization)", "kustomize",
                "kustomize build failed", hint="fix the file kustomize names above",
                details=str(outcome).splitlines()[-6:]))
            continue
        for item in [*outcome, *_generated_applications(unit, outcome)]:
            for extra in [item, *embedded_pods(item)]:
                rendered.append(extra)
                unit_of.append(paths.rel(unit))
    objects = [r.obj for r in rendered]
    result.objects = len(objects)
    workdir = paths.RUN_DIR / "gate" / cluster

    def finding(index: int, rule: str, message: str, hint: str = "", details=None) -> Finding:
        return Finding(cluster, unit_of[index], rendered[index].source, object_id(objects[index]),
                       rule, message, hint, details or [])

    with ThreadPoolExecutor(max_workers=len(kubernetes_versions) + 1) as pool:
        schema_runs = [pool.submit(schema.validate, objects, version, workdir / f"objects-{version}")
                       for version in kubernetes_versions]
        policy_run = pool.submit(policy.evaluate_with_pod_security, cluster, config, objects, workdir)
        schema_errors = [run.result() for run in schema_runs]
        violations, pod_security = policy_run.result()
    # the oracle reads the very input file OPA read
    oracle_output = oracle.run_oracle(workdir / "input.json")

    seen: set[tuple[int, str]] = set()
    for n, (version, errors) in enumerate(zip(kubernetes_versions, schema_errors, strict=True)):
        label = "schema" if n == 0 else f"schema (upgrade readiness, Kubernetes {version})"
        for err in errors:
            key = (err.index, err.message.split(" (schema ")[0].split(" in Kubernetes ")[0])
            if key in seen:
                continue  # already reported for the target version; only new breakage is news
            seen.add(key)
            hint = ("use an apiVersion this Kubernetes serves, or add the CRD's Go module to "
                    "tools/versions.env so `make schemas` generates its schema"
                    if err.message.startswith("no schema") else
                    f"fix the field name, type or value; schemas: Kubernetes {version} and the pinned CRDs")
            result.findings.append(finding(err.index, label, err.message.splitlines()[0], hint, err.details[:8]))

    schema_failed = {err.index for errors in schema_errors for err in errors}
    result.parity = oracle.compare(pod_security, oracle_output, schema_failed)
    for index, role, level, agreed, failed in result.parity.pods_seen:
        result.parity_rows.append({"source": rendered[index].source, "object": object_id(objects[index]),
                                   "pod": role, "level": level, "agree": agreed, "oracle_fails": failed})
    for index, _role, message in result.parity.disagreements:
        result.findings.append(finding(
            index, oracle.RULE, f"Rego and Kubernetes' Pod Security admission ({result.parity.module}) disagree: {message}",
            "fix policies/podsecurity.rego (or tools/psa-oracle's mapping of this kind to pods): both must give "
            "the API server's verdict"))

    for v in violations:
        waived = [i for i, e in enumerate(exceptions) if policy.matches(e, cluster, objects[v.index], v)]
        if waived:
            result.used_exceptions.update(waived)
            continue
        result.findings.append(finding(v.index, v.rule, v.message, v.hint))
    result.seconds = time.monotonic() - started
    return result
