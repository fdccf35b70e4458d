"""Where the repository keeps things, and where the built tools are."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from tools import clusters as cluster_discovery
from tools import versions

ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools"))
RUN_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
SCHEMA_DIR = TOOLS_DIR / "schemas"
POLICY_DIR = ROOT / "policies"
EXCEPTIONS_FILE = POLICY_DIR / "exceptions.yaml"
CLUSTERS_DIR = ROOT / "clusters"
APPS_DIR = ROOT / "apps"


class ToolMissing(RuntimeError):
    pass


def tool(name: str) -> str:
    """Path of a tool built by `make go-tools` (never a random one from PATH)."""
    path = TOOLS_DIR / "bin" / name
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    raise ToolMissing(f"{name} is not built: run `make go-tools` (expected {path})")


def read_versions() -> dict[str, str]:
    return versions.read_versions()


def clusters(root: Path = ROOT) -> list[str]:
    """Clusters of the checkout at root (default this one; the PR preview passes a git worktree)."""
    return cluster_discovery.names(root)


def render_units(cluster: str, root: Path = ROOT) -> list[Path]:
    """The cluster entry plus what each of its Applications syncs, in a stable order (tools/gate/units.py)."""
    from .units import render_units as units_of  # late: units renders with kustomize, which needs paths
    return units_of(cluster, root)


def rel(path: Path | str) -> str:
    """Repo-relative name of a path; a file in a unit's copy (.run/units/<cluster>/<app>/, made by
    tools/gate/units.py) is named as the repository file it copies."""
    path = Path(path).resolve()
    try:
        inside = path.relative_to(ROOT)
    except ValueError:
        return str(path)
    if inside.parts[:2] == (".run", "units") and len(inside.parts) > 4:
        inside = Path(*inside.parts[4:])
    return str(inside)


def which(name: str) -> str | None:
    return shutil.which(name)
