"""Validate rendered objects with kubeconform -strict against the offline schemas in .tools/schemas.

Kubernetes schemas come from the kubernetes-validate package, CRD schemas from the CRDs inside the
pinned Go modules (both written by `make schemas`). A kind without a schema is a failure: the gate
never passes -ignore-missing-schemas.
"""
from __future__ import annotations

import json
import re
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


def _readable(msg: str) -> str:
    """kubeconform wraps the useful part ("at '/spec/x': additional properties 'y' not allowed")
    in a sentence about JSON formatting; keep the useful part and the schema's file name."""
    match = re.search(r"failed with '([^']*)' - at '([^']*)': (.*)", msg, re.S)
    if not match:
        return msg
    schema_file = match.group(1).rsplit("/", 1)[-1].rstrip("#")
    return f"at {match.group(2) or '/'}: {match.group(3).strip()} (schema {schema_file})"


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
        details = [f"at {e.get('path') or '/'}: {e.get('msg')}" for e in res.get("validationErrors") or []
                   if e.get("msg") != "validation failed"]
        message = _readable(res.get("msg", "invalid"))
        if res.get("status") == "statusSkipped":
            message = "skipped by kubeconform (treated as failure)"
        if "could not find schema" in message:
            message = (f"no schema for {objects[index].get('apiVersion')} {objects[index].get('kind')}"
                       f" in Kubernetes {kubernetes_version} or the generated CRD schemas")
        errors.append(SchemaError(index, message, details))
    if proc.returncode not in (0, 1) and not errors:
        raise RuntimeError(f"kubeconform failed: {proc.stderr.strip()}")
    return errors
