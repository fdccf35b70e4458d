"""Fetch a pinned Go module with ``go mod download -json`` (the Go module proxy is the only source)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path


class ModuleDownloadError(RuntimeError):
    pass


def download(module: str, version: str) -> Path:
    """Download ``module@version`` into the Go module cache and return its (read-only) folder."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    # Run outside any go.mod so nothing in the repo is touched or consulted.
    with tempfile.TemporaryDirectory(prefix="schemas-gomod-") as workdir:
        proc = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            cwd=workdir, env=env, capture_output=True, text=True, check=False,
        )
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ModuleDownloadError(
            f"go mod download {module}@{version} failed (exit {proc.returncode}): {proc.stderr.strip()}"
        ) from None
    if info.get("Error") or not info.get("Dir"):
        raise ModuleDownloadError(f"go mod download {module}@{version}: {info.get('Error') or 'no Dir in answer'}")
    return Path(info["Dir"])
