"""Render kustomizations with the pinned kustomize (or `kubectl kustomize` where it is not built yet)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from ci_tools.errors import ToolFailure

REPO_ROOT = Path(__file__).resolve().parents[2]


def kustomize_command() -> list[str]:
    """Prefer .tools/bin/kustomize (what the gate and Argo CD's pin use); fall back to kubectl's copy."""
    tools_dir = Path(os.environ.get("TOOLS_DIR", REPO_ROOT / ".tools"))
    pinned = tools_dir / "bin" / "kustomize"
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return [str(pinned), "build"]
    kubectl = shutil.which("kubectl") or str(REPO_ROOT / ".venv" / "bin" / "kubectl")
    return [kubectl, "kustomize"]


def render(directory: Path) -> list[dict]:
    """Objects of one kustomization; ToolFailure carries kustomize's own error (it names the file)."""
    proc = subprocess.run([*kustomize_command(), str(directory)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolFailure(proc.stderr.strip() or f"kustomize build {directory} failed")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if isinstance(doc, dict)]


def render_targets(repo: Path, cluster: str) -> list[str]:
    """What a cluster is made of: its entry kustomization and every app overlay for it (repo-relative)."""
    targets = []
    if (repo / "clusters" / cluster).is_dir():
        targets.append(f"clusters/{cluster}")
    targets += sorted(str(p.relative_to(repo)) for p in (repo / "apps").glob(f"*/overlays/{cluster}") if p.is_dir())
    return targets


def clusters_of(repo: Path) -> list[str]:
    root = repo / "clusters"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
