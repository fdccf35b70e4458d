"""Every Go tool of the repo comes from one builder (tools/toolchain/build-go-tool.sh) and a list file.

Areas keep their own list (tools/toolchain/go-tools.txt, jenkins/go-tools.txt,
apps/monitoring/go-tools.txt, ...). These tests read all of them: names must not collide (two
lists writing one .tools/bin/NAME at different pins would rebuild each other on every run), every
listed tool is built at its pin, and a second build at the same pins touches nothing.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from toolchain_support import ROOT, TOOLS_BIN, ListedTool, listed_tools, repo_files, tool_lists

BUILD_ALL = ROOT / "tools" / "toolchain" / "build-go-tools.sh"
STAMPS = ROOT / ".tools" / "stamps"
ALL_TOOLS = listed_tools()


def where(tool: ListedTool) -> str:
    return f"{tool.list_file.relative_to(ROOT)}:{tool.line}"


def test_the_known_areas_use_the_shared_lists():
    names = {tool.name for tool in ALL_TOOLS}
    assert {"kubeconform", "kustomize", "opa"} <= names
    assert {"registry", "crane"} <= names
    assert {"promtool", "prometheus", "statsd_exporter", "node_exporter"} <= names


def test_tool_names_are_unique_across_all_lists():
    first_seen: dict[str, ListedTool] = {}
    clashes = []
    for tool in ALL_TOOLS:
        if tool.name in first_seen:
            clashes.append(f"{tool.name}: {where(first_seen[tool.name])} and {where(tool)}")
        first_seen.setdefault(tool.name, tool)
    assert not clashes, "one binary name in two lists: " + "; ".join(clashes)


@pytest.mark.parametrize("tool", ALL_TOOLS, ids=lambda tool: tool.name)
def test_listed_tool_is_built_at_its_pin(tool, versions):
    assert tool.version_variable in versions, f"{where(tool)}: {tool.version_variable} is not in tools/versions.env"
    binary = TOOLS_BIN / tool.name
    stamp = STAMPS / f"go-tool-{tool.name}"
    if not binary.is_file() or not stamp.is_file():
        pytest.fail(f"{binary} is not built by the shared builder ({where(tool)}): run `make setup`")
    assert stamp.read_text().strip() == versions[tool.version_variable], where(tool)


@pytest.mark.parametrize("name", ["promtool", "prometheus", "statsd_exporter", "node_exporter"])
def test_prometheus_family_reports_the_pinned_module_version(name, versions):
    tool = next(tool for tool in ALL_TOOLS if tool.name == name)
    out = subprocess.run([str(TOOLS_BIN / name), "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    first_line = (out.stdout or out.stderr).splitlines()[0]
    assert first_line.startswith(f"{name}, version {versions[tool.version_variable]} "), first_line


def test_second_build_of_every_list_at_the_same_pins_does_nothing():
    binaries = {tool.name: (TOOLS_BIN / tool.name).stat().st_mtime_ns for tool in ALL_TOOLS}
    out = subprocess.run([str(BUILD_ALL), *map(str, tool_lists())], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "building" not in out.stdout + out.stderr
    assert {name: (TOOLS_BIN / name).stat().st_mtime_ns for name in binaries} == binaries


# `go build`/`go install` outside the shared builder, with the reason each one stays.
OWN_GO_BUILDS_ALLOWED = {
    # Builds k8s.io/kubernetes and etcd from generated modules (tools/controlplane/modules) whose
    # replace directives pin the k8s.io/* staging modules; not a `module@version` build.
    "tools/controlplane/build.sh",
    # Builds the gate's Pod Security oracle from its own source (tools/psa-oracle, a module of ours
    # with a committed go.mod/go.sum); there is no module@version on the proxy to build it from.
    "tools/psa-oracle/build.sh",
}
GO_BUILD = re.compile(r"\bgo\s+(?:build|install)\b")


def test_no_area_keeps_its_own_go_tool_builder():
    offenders = []
    for path in repo_files():
        relative = path.relative_to(ROOT)
        if (path.suffix not in {".sh", ".mk", ".py"} and path.name != "Makefile"
                or relative.parts[0] == "tests" or relative.parts[:2] == ("tools", "toolchain")
                or str(relative) in OWN_GO_BUILDS_ALLOWED):
            continue
        for number, text in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if GO_BUILD.search(text) and not text.lstrip().startswith("#"):
                offenders.append(f"{relative}:{number}: {text.strip()}")
    assert not offenders, (
        "build Go tools with tools/toolchain/build-go-tools.sh and a go-tools.txt list instead of: "
        + "; ".join(offenders)
    )
