"""build-go-tool.sh end to end with the real go command, against a module proxy served from files.

The proxy (GOPROXY=file://...) holds tiny modules made here, so the test needs no network and
builds in seconds, yet goes through the same download / install / replace handling as the real
tools: a plain module (go install), a version bump (rebuild), a monorepo-style module whose
go.mod replaces a sibling module with a ../path that its download does not contain, and a module
whose go.mod excludes a dependency version (as Prometheus' does), which `go install` refuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from toolchain_support import ROOT

BUILD_ONE = ROOT / "tools" / "toolchain" / "build-go-tool.sh"


def publish(proxy: Path, module: str, version: str, files: dict[str, str]) -> None:
    """Add module@version to a GOPROXY directory (the proxy protocol's file layout)."""
    folder = proxy / module / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{version}.mod").write_text(files["go.mod"])
    (folder / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-01-01T00:00:00Z"}))
    with zipfile.ZipFile(folder / f"{version}.zip", "w") as archive:
        for name, text in files.items():
            archive.writestr(f"{module}@{version}/{name}", text)
    versions = set((folder / "list").read_text().split()) if (folder / "list").exists() else set()
    (folder / "list").write_text("\n".join(sorted(versions | {version})) + "\n")


def hello_module(version: str) -> dict[str, str]:
    return {
        "go.mod": "module example.com/hello\n\ngo 1.22\n",
        "cmd/hello/main.go": 'package main\n\nimport "fmt"\n\nvar version = "dev"\n\nfunc main() { fmt.Println(version) }\n',
    }


@pytest.fixture
def go_env(tmp_path) -> dict[str, str]:
    proxy = tmp_path / "proxy"
    publish(proxy, "example.com/hello", "v1.0.0", hello_module("v1.0.0"))
    publish(proxy, "example.com/hello", "v1.1.0", hello_module("v1.1.0"))
    publish(proxy, "example.com/greeting", "v1.2.0", {
        "go.mod": "module example.com/greeting\n\ngo 1.22\n",
        "greeting.go": 'package greeting\n\nconst Text = "hello from the proxy"\n',
    })
    publish(proxy, "example.com/greeting", "v1.3.0", {
        "go.mod": "module example.com/greeting\n\ngo 1.22\n",
        "greeting.go": 'package greeting\n\nconst Text = "hello from v1.3.0"\n',
    })
    # Requires greeting v1.2.0 but excludes it: built as the main module, v1.3.0 must be used.
    publish(proxy, "example.com/picky", "v1.0.0", {
        "go.mod": "module example.com/picky\n\ngo 1.22\n\nrequire example.com/greeting v1.2.0\n\n"
                  "exclude (\n\texample.com/greeting v1.2.0 // broken release\n)\n",
        "cmd/picky/main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greeting"\n)\n\n'
                             "func main() { fmt.Println(greeting.Text) }\n",
    })
    publish(proxy, "example.com/mono", "v1.2.0", {
        "go.mod": "module example.com/mono\n\ngo 1.22\n\nrequire example.com/greeting v1.2.0\n\n"
                  "replace example.com/greeting => ../greeting\n",
        "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greeting"\n)\n\n'
                   "func main() { fmt.Println(greeting.Text) }\n",
    })
    return {
        **os.environ,
        "GOPROXY": f"file://{proxy}",
        "GOSUMDB": "off",
        "GOMODCACHE": str(tmp_path / "modcache"),
        "GOFLAGS": "-modcacherw",  # lets pytest delete the temp module cache
        "TOOLS_DIR": str(tmp_path / "tools"),
    }


def build(env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BUILD_ONE), *args], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def run_tool(env: dict, name: str) -> str:
    return subprocess.run([f"{env['TOOLS_DIR']}/bin/{name}"], capture_output=True, text=True, check=True).stdout.strip()


def test_builds_at_pin_skips_when_current_and_rebuilds_on_bump(go_env):
    args = ("hello", "example.com/hello", "example.com/hello/cmd/hello")
    first = build(go_env, *args, "v1.0.0", "-X main.version={version}")
    assert "built hello v1.0.0" in first.stdout
    assert run_tool(go_env, "hello") == "v1.0.0"
    stamp = Path(go_env["TOOLS_DIR"]) / "stamps" / "go-tool-hello"
    assert stamp.read_text().strip() == "v1.0.0"

    again = build(go_env, *args, "v1.0.0", "-X main.version={version}")
    assert again.stdout == "" and again.stderr == ""

    bumped = build(go_env, *args, "v1.1.0", "-X main.version={version}")
    assert "built hello v1.1.0" in bumped.stdout
    assert run_tool(go_env, "hello") == "v1.1.0"
    assert stamp.read_text().strip() == "v1.1.0"


def test_module_with_sibling_replace_builds_from_the_proxy(go_env):
    proc = build(go_env, "mono", "example.com/mono", "example.com/mono", "v1.2.0")
    assert "go.mod has replace directives: building inside a copy of the module" in proc.stdout
    assert "dropping replace example.com/greeting => ../greeting" in proc.stdout
    assert run_tool(go_env, "mono") == "hello from the proxy"


def test_module_with_exclude_builds_as_main_module_honouring_the_exclude(go_env, tmp_path):
    # The reason for the special path: `go install pkg@version` refuses a go.mod with excludes.
    refused = subprocess.run(
        ["go", "install", "example.com/picky/cmd/picky@v1.0.0"], cwd=tmp_path,
        env={**go_env, "GOBIN": str(tmp_path / "gobin"), "GOTOOLCHAIN": "local"},
        capture_output=True, text=True, check=False,
    )
    assert refused.returncode != 0 and "exclude" in refused.stderr, refused.stderr

    proc = build(go_env, "picky", "example.com/picky", "example.com/picky/cmd/picky", "v1.0.0")
    assert "go.mod has exclude directives: building inside a copy of the module" in proc.stdout
    assert run_tool(go_env, "picky") == "hello from v1.3.0"
    assert (Path(go_env["TOOLS_DIR"]) / "stamps" / "go-tool-picky").read_text().strip() == "v1.0.0"


def test_unknown_version_fails_with_module_and_version(go_env):
    proc = subprocess.run(
        [str(BUILD_ONE), "hello", "example.com/hello", "example.com/hello/cmd/hello", "v9.9.9"],
        env=go_env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode != 0
    assert "example.com/hello@v9.9.9" in proc.stderr
    assert not (Path(go_env["TOOLS_DIR"]) / "bin" / "hello").exists()
