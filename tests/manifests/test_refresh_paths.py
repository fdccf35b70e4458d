"""Every file an Application's build reads lies under its `manifest-generate-paths` annotation.

Argo CD refreshes an Application from a push webhook only when the push changes a file under those
paths, and its repo-server reuses the Application's manifests across commits that change none of
them. A path the annotation misses is a change Argo CD sees only by polling (minutes later) and, for
the cached manifests, one it may not render until the next change it does see. So the files are
collected by following each kustomization the build visits (resources, components, patches,
generators), from the Application's path and its `kustomize.components`, plus Helm value files."""
from __future__ import annotations

import fnmatch
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.manifests.platform_render import CLUSTERS, ROOT, cluster

ANNOTATION = "argocd.argoproj.io/manifest-generate-paths"
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _kustomization(folder: Path) -> Path | None:
    return next((folder / n for n in KUSTOMIZATIONS if (folder / n).is_file()), None)


def files_read(folder: Path, seen: set[Path] | None = None) -> set[Path]:
    """The files `kustomize build folder` reads (this repository's kinds of reference)."""
    seen = set() if seen is None else seen
    folder = folder.resolve()
    kfile = _kustomization(folder)
    assert kfile, f"{folder.relative_to(ROOT)}: no kustomization"
    if kfile in seen:
        return seen
    seen.add(kfile)
    k = yaml.safe_load(kfile.read_text()) or {}
    named = [*k.get("resources", []), *k.get("components", []), *k.get("crds", [])]
    named += [p["path"] for p in k.get("patches", []) if isinstance(p, dict) and "path" in p]
    named += [p for p in k.get("patchesStrategicMerge", []) if isinstance(p, str) and "\n" not in p]
    named += [r["path"] for r in k.get("replacements", []) if "path" in r]
    for generator in [*k.get("configMapGenerator", []), *k.get("secretGenerator", [])]:
        named += [f.split("=", 1)[-1] for f in generator.get("files", [])] + generator.get("envs", [])
    for entry in named:
        assert "://" not in entry, f"{kfile.relative_to(ROOT)}: a remote {entry} (Argo CD cannot watch it)"
        target = (folder / entry).resolve()
        if target.is_dir():
            files_read(target, seen)
        else:
            assert target.is_file(), f"{kfile.relative_to(ROOT)}: {entry} does not exist"
            seen.add(target)
    return seen


def covered(path: str, refresh: list[str]) -> bool:
    """Argo CD's AppFilesHaveChanged: under a refresh path, or matching it as a glob."""
    file = PurePosixPath("/" + path)
    return any(file.is_relative_to(r) or fnmatch.fnmatch(str(file), r) for r in refresh)


def applications(env: str) -> list[dict]:
    return [o for o in cluster(env) if o["kind"] == "Application" and o["metadata"]["name"] != "root"]


@pytest.mark.parametrize("env", CLUSTERS)
def test_every_file_a_build_reads_refreshes_its_application(env):
    missed = []
    for app in applications(env):
        name = app["metadata"]["name"]
        refresh = [p for p in app["metadata"]["annotations"][ANNOTATION].split(";") if p]
        assert all(p.startswith("/") for p in refresh), f"{name}: {refresh} (repo-root paths only)"
        for source in app["spec"].get("sources", []):
            if source.get("name") == "platform" and source.get("path"):
                folder = ROOT / source["path"]
                reads = files_read(folder)
                for component in (source.get("kustomize") or {}).get("components", []):
                    reads |= files_read(folder / component)
                missed += [f"{name}: {f.relative_to(ROOT)}" for f in sorted(reads)
                           if not covered(str(f.relative_to(ROOT)), refresh)]
            for values in (source.get("helm") or {}).get("valueFiles", []):
                if values.startswith("$values/") and not covered(values.removeprefix("$values/"), refresh):
                    missed.append(f"{name}: {values}")
    assert missed == [], f"{env}: files whose change would not refresh their Application: {missed}"


def test_the_check_sees_a_folder_the_annotation_misses():
    """spark-standalone's dev overlay reads a monitoring component; without its app file's
    `alsoReads` the annotation would miss it."""
    app = next(a for a in applications("dev") if a["metadata"]["name"] == "spark-standalone")
    reads = files_read(ROOT / "apps/spark-standalone/overlays/dev")
    outside = [str(f.relative_to(ROOT)) for f in reads
               if not covered(str(f.relative_to(ROOT)), ["/apps/spark-standalone", "/apps/components"])]
    assert outside and all(p.startswith("apps/monitoring/components/") for p in outside), outside
    assert all(covered(p, app["metadata"]["annotations"][ANNOTATION].split(";")) for p in outside)
