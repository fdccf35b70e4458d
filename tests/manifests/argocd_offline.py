"""Run the local cluster's `argocd` binary (v3.2.11, .tools/bin) on rendered files, offline.

The CLI builds a Kubernetes client even for offline checks; it gets one that points nowhere
(loopback port 1, never contacted: every input is a local file)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from platform_render import ROOT

ARGOCD = ROOT / ".tools" / "bin" / "argocd"

# Skipped until the binary is built (the local platform's Argo CD build puts it in .tools/bin).
needs_argocd = pytest.mark.skipif(not os.access(ARGOCD, os.X_OK), reason=f"{ARGOCD} not built yet")


def offline_env(work: Path) -> dict[str, str]:
    (work / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "offline",
        "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline", "namespace": "argocd"}}],
        "users": [{"name": "offline", "user": {"token": "offline"}}]}))
    return {**os.environ, "KUBECONFIG": str(work / "kubeconfig"), "HOME": str(work)}


def write(tmp_path: Path, obj: dict) -> Path:
    path = tmp_path / f"{obj['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(obj))
    return path


def argocd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ARGOCD), *args], capture_output=True, text=True, env=env, timeout=120, check=False)
