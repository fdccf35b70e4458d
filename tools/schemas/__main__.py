"""Write .tools/schemas (kubeconform) and .tools/crds (CRD YAML) from pinned sources.

    python -m tools.schemas --versions tools/versions.env --schemas-dir .tools/schemas --crds-dir .tools/crds
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from importlib.metadata import version as dist_version
from pathlib import Path

from tools.versions import VersionsError, read_versions, require

from . import crds, gomod, kubernetes
from .sources import CRD_SOURCES, CrdSource

# What the static gate passes to kubeconform (relative to the repo root, or make it absolute).
KUBERNETES_TEMPLATE = ("kubernetes/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/"
                       "{{.ResourceKind}}{{.KindSuffix}}.json")
CRD_TEMPLATE = "crds/{{.ResourceKind}}{{.KindSuffix}}.json"


def _write_crd_source(
    source: CrdSource, module_version: str, schemas_out: Path, crds_out: Path, object_meta_defs: dict
) -> list[dict]:
    module_dir = gomod.download(source.module, module_version)
    origin = f"{source.module}@{module_version}"
    files = sorted({path for pattern in source.globs for path in module_dir.glob(pattern)})
    entries: list[dict] = []
    for path in files:
        documents = crds.load_crds(path)
        if not documents:
            continue
        for crd in documents:
            try:
                schemas = crds.version_schemas(crd, origin, object_meta_defs)
            except (crds.CrdError, KeyError) as err:
                raise crds.CrdError(f"{origin}/{path.relative_to(module_dir)}: {err}") from err
            for item in schemas:
                target = schemas_out / item.file_name
                if target.exists():
                    raise crds.CrdError(f"{origin}/{path.relative_to(module_dir)}: {item.file_name} written twice")
                target.write_text(json.dumps(item.schema, separators=(",", ":")))
                entries.append({
                    "kind": item.kind, "group": item.group, "version": item.version,
                    "schema": f"crds/{item.file_name}", "crd_yaml": path.name, "source": origin,
                })
        shutil.copyfile(path, crds_out / path.name)
    found = {entry["kind"] for entry in entries}
    missing = [kind for kind in source.required_kinds if kind not in found]
    if missing:
        raise crds.CrdError(f"{origin}: no CRD schema for {', '.join(missing)} under {', '.join(source.globs)}")
    return entries


def generate(versions_file: Path, schemas_dir: Path, crds_dir: Path) -> dict:
    versions = read_versions(versions_file)
    k8s_versions = [require(versions, name, versions_file) for name in ("K8S_TARGET_VERSION", "K8S_NEXT_VERSION")]

    # Build beside the target, then swap, so a failed run never leaves a half-written folder.
    schemas_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".schemas-", dir=schemas_dir.parent))
    try:
        schemas_tmp, crds_tmp = staging / "schemas", staging / "crds"
        (schemas_tmp / "crds").mkdir(parents=True)
        crds_tmp.mkdir()

        index: dict = {
            "kubeconform": {"schema_locations": [KUBERNETES_TEMPLATE, CRD_TEMPLATE]},
            "kubernetes": [],
            "crds": [],
        }
        source_package = f"kubernetes-validate=={dist_version('kubernetes-validate')}"
        for k8s_version in k8s_versions:
            started = time.monotonic()
            folder, count = kubernetes.write_version(k8s_version, schemas_tmp)
            index["kubernetes"].append({
                "version": k8s_version, "dir": str(folder.relative_to(schemas_tmp)), "files": count,
                "source": source_package,
            })
            print(f"==> kubernetes {k8s_version}: {count} kinds in {time.monotonic() - started:.1f}s")

        object_meta = kubernetes.definitions_for(crds.OBJECT_META, kubernetes.load_definitions(k8s_versions[0]))
        for source in CRD_SOURCES:
            started = time.monotonic()
            module_version = require(versions, source.version_variable, versions_file)
            entries = _write_crd_source(source, module_version, schemas_tmp / "crds", crds_tmp, object_meta)
            index["crds"].extend(entries)
            print(f"==> {source.module}@{module_version}: {len(entries)} CRD versions in {time.monotonic() - started:.1f}s")

        (schemas_tmp / "index.json").write_text(json.dumps(index, indent=2) + "\n")
        for built, final in ((schemas_tmp, schemas_dir), (crds_tmp, crds_dir)):
            old = staging / f"old-{final.name}"
            if final.exists():
                final.rename(old)
            built.rename(final)
        return index
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schemas", description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=Path, default=Path("tools/versions.env"))
    parser.add_argument("--schemas-dir", type=Path, default=Path(".tools/schemas"))
    parser.add_argument("--crds-dir", type=Path, default=Path(".tools/crds"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        index = generate(args.versions, args.schemas_dir, args.crds_dir)
    except (VersionsError, kubernetes.KubernetesSchemaError, crds.CrdError, gomod.ModuleDownloadError) as err:
        print(f"schemas: {err}", file=sys.stderr)
        return 1
    print(
        f"==> wrote {args.schemas_dir} ({len(index['kubernetes'])} Kubernetes versions, "
        f"{len(index['crds'])} CRD versions) and {args.crds_dir} in {time.monotonic() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
