"""What the docs and manifests claim agrees with the repository: named paths exist, each benchmark figure
has one home, and the upstream versions we deploy are the versions whose CRD schemas the gate uses."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from toolchain_support import VERSIONS_FILE

from tools import clusters
from tools.gate import appset
from tools.schemas.sources import CRD_SOURCES
from tools.versions import read_versions

ROOT = Path(__file__).resolve().parents[2]
TOP_DIRS = ("apps", "clusters", "dags", "jenkins", "jobs", "policies", "tests", "tools")

# Paths a doc names on purpose although they do not exist: what a command creates when run.
CREATED_BY_COMMANDS = {
    ("README.md", "dags/customer_orders_daily.py"): "example output of `make new-dag`",
    ("README.md", "jobs/etl/customer_orders.py"): "example output of `make new-job`",
    ("README.md", "apps/argocd/applications"): "the 'before' column of the layout counts (a removed folder)",
}
# Before -> after reports name what a change removed, by design.
HISTORY_REPORTS = {"apps/RESTRUCTURE-DIFF.md": "the restructuring's diff report"}


def markdown_files() -> list[str]:
    docs = subprocess.run(["git", "-C", str(ROOT), "ls-files", "*.md"], capture_output=True, text=True,
                          check=True).stdout.split()
    return [doc for doc in docs if doc not in HISTORY_REPORTS]


def missing_paths(doc: str, text: str) -> list[str]:
    """Repository paths in `backticks` that match no file; `<name>` placeholders match anything."""
    missing = []
    for token in re.findall(r"`([^`\n]+)`", text):
        token = token.strip().removeprefix("./")
        if not re.fullmatch(rf"(?:{'|'.join(TOP_DIRS)})/\S*", token) or (doc, token) in CREATED_BY_COMMANDS:
            continue
        pattern = re.sub(r"<[^>]+>", "*", token).split(":")[0].rstrip("/")
        if not any(ROOT.glob(pattern)) and not any(ROOT.glob(pattern + "*")):
            missing.append(token)
    return missing


@pytest.mark.parametrize("doc", markdown_files())
def test_every_path_a_doc_names_exists(doc):
    assert missing_paths(doc, (ROOT / doc).read_text()) == [], f"{doc} names paths that do not exist"


def test_a_missing_path_is_reported():
    text = "fixtures live in `tests/fixtures/policies/<rule>/`; history in `tests/jenkins/test_jenkins_history.py`"
    assert missing_paths("x.md", text) == ["tests/fixtures/policies/<rule>/"]


def benchmark_rows_restating_figures(readme: str) -> list[str]:
    """Rows of README tables that link a committed BENCHMARKS.md but also carry numbers in their result."""
    bad = []
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) >= 2 and "BENCHMARKS.md" in line:
            if re.search(r"\d", cells[1]):
                bad.append(line)
        elif "BENCHMARKS.md" in line and re.search(r"\bp(50|95)\b\s*\d|\d+(\.\d+)?\s*(ms|s|GB|rows/s)\b", line):
            bad.append(line)
    return bad


def test_readme_points_at_the_benchmark_write_ups_instead_of_restating_them():
    assert benchmark_rows_restating_figures((ROOT / "README.md").read_text()) == []
    # ... and would notice a restated figure.
    assert benchmark_rows_restating_figures("| ETL (`jobs/BENCHMARKS.md`) | Spark 104.9 s | ≤ 4 GB |")


# How an Argo CD Application source names the upstream project of each CRD module.
UPSTREAM_OF = {
    "ARGOCD_MODULE_VERSION": lambda s: "argoproj/argo-cd" in s.get("repoURL", ""),
    "SPARK_OPERATOR_MODULE_VERSION": lambda s: s.get("chart") == "spark-operator",
    "PROMETHEUS_OPERATOR_MODULE_VERSION": lambda s: "prometheus-operator/prometheus-operator" in s.get("repoURL", ""),
    "EXTERNAL_SECRETS_MODULE_VERSION": lambda s: s.get("chart") == "external-secrets",
}


def deployed_upstream_versions(variable: str) -> dict[str, str]:
    """cluster/Application -> targetRevision of every source for that upstream, in the Applications
    Argo CD ends up with for each cluster (the ApplicationSets' output, tools/gate/appset.py)."""
    found = {}
    for env in clusters.names(ROOT):
        objects = _render(f"clusters/{env}")
        for doc in [*objects, *appset.generated_applications(objects, ROOT)]:
            if doc.get("kind") != "Application":
                continue
            spec = doc.get("spec", {})
            for source in [spec["source"]] if "source" in spec else spec.get("sources", []):
                if UPSTREAM_OF[variable](source):
                    found[f"{env}/{doc['metadata']['name']}"] = str(source["targetRevision"])
    return found


def _render(path: str) -> list[dict]:
    kustomize = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools")) / "bin" / "kustomize"
    out = subprocess.run([str(kustomize), "build", str(ROOT / path)], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]


@pytest.mark.parametrize("source", CRD_SOURCES, ids=lambda s: s.version_variable)
def test_deployed_upstream_version_equals_the_crd_schema_module(source):
    """The gate validates against CRDs of the module pinned in tools/versions.env; the cluster runs what
    the Application installs. One version for both, or the gate checks objects against the wrong CRDs."""
    versions = read_versions(VERSIONS_FILE)
    pinned = versions[source.version_variable]
    # The local cluster may run the release it can build, when tools/versions.env pins it on its own
    # line with its reason (<NAME>_LOCAL_VERSION next to <NAME>_MODULE_VERSION); every other cluster
    # runs the module's version.
    local_pin = versions.get(source.version_variable.replace("_MODULE_VERSION", "_LOCAL_VERSION"), pinned)
    deployed = deployed_upstream_versions(source.version_variable)
    assert deployed, f"no Argo CD Application installs the upstream of {source.module}"
    wrong = {where: rev for where, rev in deployed.items()
             if rev.removeprefix("v") != (local_pin if where.startswith("local/") else pinned).removeprefix("v")}
    assert not wrong, f"tools/versions.env {source.version_variable}={pinned}, but {wrong}"
