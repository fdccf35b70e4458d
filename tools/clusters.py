"""The clusters of a checkout (clusters/<name>/kustomization.yaml) and their settings.

The one place that knows what a cluster is: the Makefile's `clusters/*`, the static gate, the CI
tools (bump, promote, rollback, preview) and the tests all ask this module instead of listing
names. A cluster's settings are the literals of the `cluster-settings` ConfigMap its
kustomization generates (read by apps/argocd/components/cluster-settings).
"""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_NAME = "cluster-settings"


def names(root: Path = ROOT) -> list[str]:
    """Clusters of the checkout at root (default this one; the PR preview passes a git worktree)."""
    clusters_dir = root / "clusters"
    if not clusters_dir.is_dir():
        return []
    return sorted(p.name for p in clusters_dir.iterdir() if (p / "kustomization.yaml").is_file())


def settings(cluster: str, root: Path = ROOT) -> dict[str, str]:
    """The cluster's `cluster-settings` literals ({} for a checkout that predates them)."""
    data = yaml.safe_load((root / "clusters" / cluster / "kustomization.yaml").read_text()) or {}
    for generator in data.get("configMapGenerator") or []:
        if generator.get("name") == SETTINGS_NAME:
            return dict(literal.split("=", 1) for literal in generator.get("literals") or [])
    return {}


def overlay(cluster: str, root: Path = ROOT) -> str:
    """Which apps/<app>/overlays/<overlay> the cluster's Applications sync (its own name by default)."""
    return settings(cluster, root).get("overlay") or cluster
