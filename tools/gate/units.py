"""What the gate renders for one cluster: the cluster entry, then what each of its Applications syncs.

For dev and prod that is apps/<app>/overlays/<cluster>, or apps/<app>/base for an app that is the
same in every cluster (`sameInEveryCluster: true` in its application.yaml). A cluster whose settings
sync another overlay and add kustomize components (clusters/local: the dev overlays plus a laptop
component) has no folder of its own per app; for each of its Applications the gate builds what Argo
CD builds. Argo CD runs `kustomize edit add component` in the Application's path, so the component
joins the end of that kustomization's own `components:` list, and the overlay's own `patches:` apply
after it (kustomize runs a kustomization's components before its own transformers). A wrapper that
lists the overlay as a resource and the component after it would apply the component last instead,
and show a rendering Argo CD never makes. So the gate does the same edit, with the same kustomize,
on a copy of apps/ and clusters/ under <checkout>/.run/units/<cluster>/<app>/, and renders the copy.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import appset, paths
from .render import RenderError, render


def _own_overlays(cluster: str, root: Path) -> list[Path]:
    return sorted(p for p in (root / "apps").glob(f"*/overlays/{cluster}") if (p / "kustomization.yaml").is_file())


def platform_source(application: dict) -> dict | None:
    for source in application["spec"].get("sources") or []:
        if source.get("name") == "platform" and source.get("path"):
            return source
    return None


def cluster_applications(cluster: str, root: Path) -> list[dict]:
    """The Applications the cluster's ApplicationSets make (none for a checkout without them, and
    none when the entry does not render: the gate and the preview report that on the entry unit)."""
    try:
        objects = render(root / "clusters" / cluster)
    except RenderError:
        return []
    return appset.generated_applications(list(objects), root)


# What a kustomization may reach: every path it names stays inside these folders.
COPIED = ("apps", "clusters")
# The files of those folders and the digest of their names and contents.
Sources = tuple[list[Path], Any]


def units_dir(root: Path, cluster: str) -> Path:
    return root / ".run" / "units" / cluster


def _sources(root: Path) -> Sources:
    """The files a copy holds, and a digest of their names and contents."""
    files = sorted(f for folder in COPIED for f in (root / folder).rglob("*")
                   if f.is_file() and "__pycache__" not in f.parts)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"\0{f.relative_to(root)}\0".encode() + f.read_bytes())
    return files, digest


def _as_argocd_builds(root: Path, cluster: str, name: str, path: str, components: list[str],
                      sources: Sources) -> Path:
    """A copy of apps/ and clusters/ in which `path` has the components added as Argo CD adds them."""
    copy = units_dir(root, cluster) / name
    files, tree = sources
    digest = tree.copy()
    digest.update("\0".join(["", path, *components]).encode())
    stamp = copy / ".made-from"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return copy / path  # the same sources, already edited
    if copy.exists():
        shutil.rmtree(copy)
    for f in files:
        (copy / f.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, copy / f.relative_to(root))
    target = copy / path
    proc = subprocess.run([paths.tool("kustomize"), "edit", "add", "component", *components], cwd=target,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RenderError(f"{path}: kustomize edit add component {' '.join(components)} (as Argo CD does for "
                          f"Application {name} of cluster {cluster}): {proc.stderr.strip()}")
    stamp.write_text(digest.hexdigest())
    return target


def render_units(cluster: str, root: Path) -> list[Path]:
    if not (root / "clusters" / cluster / "kustomization.yaml").is_file():
        return []  # a cluster this checkout does not have (the PR preview pairs two checkouts)
    units = [root / "clusters" / cluster]
    # A checkout from before the ApplicationSets has only the overlays (the PR preview renders one).
    own = _own_overlays(cluster, root)
    extra = []
    sources = None  # read once, and only for a cluster with components
    for application in cluster_applications(cluster, root):
        source = platform_source(application)
        if source is None or not source["path"].startswith("apps/"):
            continue
        components = (source.get("kustomize") or {}).get("components") or []
        if components:
            sources = sources or _sources(root)
            extra.append(_as_argocd_builds(root, cluster, application["metadata"]["name"], source["path"],
                                           components, sources))
        elif root / source["path"] not in own:
            extra.append(root / source["path"])
    return units + own + sorted(extra)


def app_unit(cluster: str, app: str, root: Path) -> Path:
    """The render unit of one app in one cluster (its own overlay, or the copy built for it)."""
    for unit in render_units(cluster, root)[1:]:
        in_app = unit.is_relative_to(root / "apps" / app)  # its overlay, or its base
        if in_app or unit.is_relative_to(units_dir(root, cluster) / app):
            return unit
    raise KeyError(f"cluster {cluster} has no Application for apps/{app}")
