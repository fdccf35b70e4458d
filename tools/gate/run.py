"""Run the gate on one cluster (or one fixture directory) and collect findings."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import paths, policy, schema
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


def check(cluster: str, units: list[Path], lint_targets: list[Path], config: dict,
          exceptions: list[dict], kubernetes_versions: list[str], respect_ignores: bool = True) -> ClusterResult:
    started = time.monotonic()
    result = ClusterResult(cluster, units=len(units))
    result.yaml_files, lint_findings = lint(lint_targets, cluster, respect_ignores)
    result.findings += lint_findings

    rendered: list[Rendered] = []
    unit_of: list[str] = []
    for unit in units:
        try:
            items = render_with_sources(unit)
        except RenderError as exc:
            result.findings.append(Finding(
                cluster, paths.rel(unit), paths.rel(unit), "(kustomization)", "kustomize",
                "kustomize build failed", hint="fix the file kustomize names above",
                details=str(exc).splitlines()[-6:]))
            continue
        for item in items:
            for extra in [item, *embedded_pods(item)]:
                rendered.append(extra)
                unit_of.append(paths.rel(unit))
    objects = [r.obj for r in rendered]
    result.objects = len(objects)
    workdir = paths.RUN_DIR / "gate" / cluster

    def finding(index: int, rule: str, message: str, hint: str = "", details=None) -> Finding:
        return Finding(cluster, unit_of[index], rendered[index].source, object_id(objects[index]),
                       rule, message, hint, details or [])

    seen: set[tuple[int, str]] = set()
    for n, version in enumerate(kubernetes_versions):
        label = "schema" if n == 0 else f"schema (upgrade readiness, Kubernetes {version})"
        for err in schema.validate(objects, version, workdir / f"objects-{version}"):
            key = (err.index, err.message.split(" (schema ")[0].split(" in Kubernetes ")[0])
            if key in seen:
                continue  # already reported for the target version; only new breakage is news
            seen.add(key)
            hint = ("use an apiVersion this Kubernetes serves, or add the CRD's Go module to "
                    "tools/versions.env so `make schemas` generates its schema"
                    if err.message.startswith("no schema") else
                    f"fix the field name, type or value; schemas: Kubernetes {version} and the pinned CRDs")
            result.findings.append(finding(err.index, label, err.message.splitlines()[0], hint, err.details[:8]))

    for v in policy.evaluate(cluster, config, objects, workdir):
        waived = [i for i, e in enumerate(exceptions) if policy.matches(e, cluster, objects[v.index], v)]
        if waived:
            result.used_exceptions.update(waived)
            continue
        result.findings.append(finding(v.index, v.rule, v.message, v.hint))
    result.seconds = time.monotonic() - started
    return result
