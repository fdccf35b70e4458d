"""Standalone Kubernetes schemas for kubeconform, from the kubernetes-validate package.

kubernetes-validate ships one file per kind plus a shared ``_definitions.json``; the kind files
point into it with absolute refs (``/api/_definitions.json#/$defs/...``) and carry an ``$id`` on
kubernetes.io, so kubeconform would try to fetch them over HTTP. We write each kind file
self-contained instead: the definitions it reaches are copied into its own ``$defs`` and its refs
become ``#/$defs/...``. kubeconform then compiles each kind from one small file, with no lookups.
"""

from __future__ import annotations

import json
from pathlib import Path

from .refs import Json, closure, map_refs

DEFINITIONS_FILE = "_definitions.json"
REF_PREFIX = "/api/_definitions.json#/$defs/"  # in kind files
LOCAL_PREFIX = "#/$defs/"  # inside _definitions.json, and in our output
# all.json is a oneOf over every definition: kubeconform never asks for it.
SKIPPED_FILES = {DEFINITIONS_FILE, "all.json"}


class KubernetesSchemaError(RuntimeError):
    pass


def package_schema_root() -> Path:
    import kubernetes_validate

    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def source_dir(version: str, root: Path | None = None) -> Path:
    """The strict schema folder for a version such as ``1.34.0``."""
    root = root or package_schema_root()
    folder = root / f"v{version.removeprefix('v')}-local-strict"
    if not folder.is_dir():
        have = sorted(p.name for p in root.iterdir() if p.name.endswith("-local-strict"))
        raise KubernetesSchemaError(
            f"{folder}: kubernetes-validate has no strict schemas for Kubernetes {version} (it has: {', '.join(have)})"
        )
    return folder


def output_dir(schemas_dir: Path, version: str) -> Path:
    """kubeconform's folder naming: ``{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}``."""
    return schemas_dir / "kubernetes" / f"v{version.removeprefix('v')}-standalone-strict"


def _definition_name(ref: str) -> str:
    for prefix in (REF_PREFIX, LOCAL_PREFIX):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    raise KubernetesSchemaError(f"unexpected $ref form {ref!r} (expected {REF_PREFIX}NAME or {LOCAL_PREFIX}NAME)")


def _local_ref(ref: str) -> str:
    return LOCAL_PREFIX + _definition_name(ref)


def standalone(kind_schema: Json, definitions: dict[str, Json]) -> Json:
    """One kind schema with the definitions it uses inlined under ``$defs``."""
    used = closure(kind_schema, definitions, _definition_name)
    result = {key: value for key, value in kind_schema.items() if key != "$id"}
    result = map_refs(result, _local_ref)
    if used:
        result["$defs"] = {name: map_refs(definitions[name], _local_ref) for name in used}
    return result


def load_definitions(version: str, source_root: Path | None = None) -> dict[str, Json]:
    return json.loads((source_dir(version, source_root) / DEFINITIONS_FILE).read_text())["$defs"]


def definitions_for(name: str, definitions: dict[str, Json]) -> dict[str, Json]:
    """``name`` and every definition it reaches, refs made local: a ready ``$defs`` block."""
    used = sorted({name, *closure(definitions[name], definitions, _definition_name)})
    return {each: map_refs(definitions[each], _local_ref) for each in used}


def write_version(version: str, schemas_dir: Path, source_root: Path | None = None) -> tuple[Path, int]:
    """Write the standalone strict schemas for one Kubernetes version; returns (folder, file count)."""
    src = source_dir(version, source_root)
    definitions = load_definitions(version, source_root)
    out = output_dir(schemas_dir, version)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(src.glob("*.json")):
        if path.name in SKIPPED_FILES:
            continue
        try:
            schema = standalone(json.loads(path.read_text()), definitions)
        except (KeyError, KubernetesSchemaError) as err:
            raise KubernetesSchemaError(f"{path}: {err}") from err
        (out / path.name).write_text(json.dumps(schema, separators=(",", ":")))
        count += 1
    return out, count
