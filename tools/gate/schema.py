"""Validate rendered objects with kubeconform -strict against the offline schemas in .tools/schemas.

Kubernetes schemas come from the kubernetes-validate package, CRD schemas from the CRDs inside the
pinned Go modules (both written by `make schemas`). A kind without a schema is a failure: the gate
never passes -ignore-missing-schemas.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import paths


@dataclass
class SchemaError:
    index: int
    message: str
    details: list[str]


def schema_locations() -> list[str]:
    base = paths.SCHEMA_DIR
    return [
        f"{base}/kubernetes/{{{{.NormalizedKubernetesVersion}}}}-standalone{{{{.StrictSuffix}}}}/"
        "{{.ResourceKind}}{{.KindSuffix}}.json",
        f"{base}/crds/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
    ]


def validate(objects: list[dict], kubernetes_version: str, workdir: Path) -> list[SchemaError]:
    """Validate `objects`; errors carry the index of the offending object."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for i, obj in enumerate(objects):
        (workdir / f"{i:05d}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    cmd = [paths.tool("kubeconform"), "-strict", "-output", "json", "-summary",
           "-kubernetes-version", kubernetes_version, "-n", "4"]
    for location in schema_locations():
        cmd += ["-schema-location", location]
    proc = subprocess.run(cmd + [str(workdir)], capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:  # kubeconform itself failed to run
        raise RuntimeError(f"kubeconform gave no JSON: {proc.stderr.strip()} {proc.stdout[:500]}") from exc
    errors = []
    for res in report.get("resources", []):
        if res.get("status") in ("statusValid", None):
            continue
        index = int(Path(res["filename"]).stem)
        details = [f"at {e.get('path') or '/'}: {e.get('msg')}" for e in res.get("validationErrors") or []]
        message = res.get("msg", "invalid")
        if res.get("status") == "statusSkipped":
            message = "skipped by kubeconform (treated as failure)"
        if "could not find schema" in message:
            message = f"no schema for {objects[index].get('apiVersion')} {objects[index].get('kind')}"
        errors.append(SchemaError(index, message, details))
    if proc.returncode not in (0, 1) and not errors:
        raise RuntimeError(f"kubeconform failed: {proc.stderr.strip()}")
    return errors
