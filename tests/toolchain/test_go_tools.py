"""The Go tools in .tools/bin are the pinned versions, and the build script is a no-op when current."""

from __future__ import annotations

import re
import subprocess

from toolchain_support import ROOT, TOOLS_BIN, tool

BUILD_ONE = ROOT / "tools" / "toolchain" / "build-go-tool.sh"
BUILD_ALL = ROOT / "tools" / "toolchain" / "build-go-tools.sh"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


def test_kubeconform_reports_pinned_version(versions):
    out = run(str(tool("kubeconform")), "-v")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == versions["KUBECONFORM_VERSION"]


def test_kustomize_reports_pinned_version(versions):
    out = run(str(tool("kustomize")), "version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == versions["KUSTOMIZE_VERSION"]


def test_opa_reports_pinned_version(versions):
    out = run(str(tool("opa")), "version")
    assert out.returncode == 0, out.stderr
    match = re.search(r"^Version: (\S+)$", out.stdout, re.MULTILINE)
    assert match, out.stdout
    assert "v" + match.group(1) == versions["OPA_VERSION"]


def test_rebuild_at_same_pin_does_nothing():
    binaries = {name: (TOOLS_BIN / name).stat().st_mtime_ns for name in ("kubeconform", "kustomize", "opa")}
    out = run(str(BUILD_ALL))
    assert out.returncode == 0, out.stderr
    assert "building" not in out.stdout + out.stderr
    assert {name: (TOOLS_BIN / name).stat().st_mtime_ns for name in binaries} == binaries


def test_package_outside_module_is_refused(tmp_path):
    out = subprocess.run(
        [str(BUILD_ONE), "nothing", "example.com/mod", "example.com/other/cmd", "v1.0.0"],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin", "TOOLS_DIR": str(tmp_path)},
    )
    assert out.returncode == 2
    assert "package example.com/other/cmd is not inside module example.com/mod" in out.stderr
    assert not (tmp_path / "bin" / "nothing").exists()


def test_tool_list_without_pin_names_file_and_line(tmp_path):
    tool_list = tmp_path / "tools.txt"
    tool_list.write_text("# comment\nmytool  example.com/mod  example.com/mod  NO_SUCH_VERSION\n")
    out = run(str(BUILD_ALL), str(tool_list))
    assert out.returncode == 2
    assert f"{tool_list}:2: tool 'mytool': NO_SUCH_VERSION is not set" in out.stderr


def test_tool_list_line_missing_fields_is_refused(tmp_path):
    tool_list = tmp_path / "tools.txt"
    tool_list.write_text("mytool example.com/mod\n")
    out = run(str(BUILD_ALL), str(tool_list))
    assert out.returncode == 2
    assert f"{tool_list}:1: tool 'mytool' needs NAME MODULE PACKAGE VERSION_VARIABLE" in out.stderr
