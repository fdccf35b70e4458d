"""Helpers for the toolchain tests: the built tools and kubeconform with our schema dir.

(A uniquely named module rather than conftest.py: other test folders have a conftest module too.)
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tools.schemas.__main__ import CRD_TEMPLATE, KUBERNETES_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
SCHEMAS_DIR = ROOT / ".tools" / "schemas"
VERSIONS_FILE = ROOT / "tools" / "versions.env"


def tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make go-tools` first")
    return path


@dataclass
class Result:
    name: str
    kind: str
    status: str  # statusValid, statusInvalid, statusError, statusSkipped
    message: str

    @property
    def valid(self) -> bool:
        return self.status == "statusValid"


def kubeconform(objects: list[dict], tmp_path: Path, kubernetes_version: str = "1.34.0") -> dict[str, Result]:
    """Run the gate's kubeconform invocation on ``objects``; results keyed by metadata.name."""
    if not (SCHEMAS_DIR / "index.json").is_file():
        pytest.fail(f"{SCHEMAS_DIR} is missing: run `make schemas` first")
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    proc = subprocess.run(
        [
            str(tool("kubeconform")), "-strict", "-summary", "-verbose", "-output", "json",
            "-kubernetes-version", kubernetes_version,
            "-schema-location", f"{SCHEMAS_DIR}/{KUBERNETES_TEMPLATE}",
            "-schema-location", f"{SCHEMAS_DIR}/{CRD_TEMPLATE}",
            str(manifest),
        ],
        capture_output=True, text=True, check=False,
    )
    report = json.loads(proc.stdout)
    results = {}
    for resource in report["resources"]:
        errors = " | ".join(
            f"{error.get('path')}: {error.get('msg')}" for error in resource.get("validationErrors") or []
        )
        results[resource["name"]] = Result(
            resource["name"], resource["kind"], resource["status"], f"{resource.get('msg', '')} {errors}".strip()
        )
    assert sorted(results) == sorted(obj["metadata"]["name"] for obj in objects), "kubeconform skipped objects"
    expected_exit = 0 if all(result.valid for result in results.values()) else 1
    assert proc.returncode == expected_exit, proc.stderr
    return results


# --- the Go tool lists (every area's go-tools.txt) ----------------------------------------------
NOT_SOURCE = {".git", ".venv", ".tools", ".run", "node_modules"}


@dataclass(frozen=True)
class ListedTool:
    name: str
    module: str
    package: str
    version_variable: str
    ldflags: str
    list_file: Path
    line: int


def repo_files() -> list[Path]:
    """Files of the repo, without descending into the venv, build output or run state."""
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = sorted(name for name in subfolders if name not in NOT_SOURCE)
        files.extend(Path(folder) / name for name in sorted(names))
    return files


def tool_lists() -> list[Path]:
    return [path for path in repo_files() if path.name == "go-tools.txt"]


def listed_tools() -> list[ListedTool]:
    tools = []
    for list_file in tool_lists():
        for number, text in enumerate(list_file.read_text().splitlines(), start=1):
            fields = text.split(maxsplit=4)
            if not fields or fields[0].startswith("#"):
                continue
            name, module, package, variable = fields[:4]
            tools.append(ListedTool(name, module, package, variable, fields[4] if len(fields) > 4 else "",
                                    list_file, number))
    return tools
