"""yamllint on source files, with the repository's committed config (warnings fail too, like --strict)."""
from __future__ import annotations

from pathlib import Path

from yamllint import linter
from yamllint.config import YamlLintConfig

from . import paths
from .findings import Finding


def lint(targets: list[Path], cluster: str, respect_ignores: bool = True) -> tuple[int, list[Finding]]:
    """Lint YAML files under `targets`. The repo config ignores the bad-input corpus; a path named
    explicitly (`--path`) is linted whatever the ignore list says."""
    conf = YamlLintConfig(file=str(paths.ROOT / ".yamllint.yaml"))
    if not respect_ignores:
        conf.ignore = None  # yamllint's linter.run skips ignored paths on its own otherwise
    files = []
    for target in targets:
        candidates = [target] if target.is_file() else sorted(target.rglob("*"))
        files += [f for f in candidates if f.is_file() and conf.is_yaml_file(str(f))
                  and not conf.is_file_ignored(paths.rel(f))]
    findings = []
    for f in files:
        with open(f, encoding="utf-8") as handle:
            problems = list(linter.run(handle, conf, paths.rel(f)))
        for problem in problems:
            findings.append(Finding(
                cluster=cluster, unit=paths.rel(f), source=f"{paths.rel(f)}:{problem.line}:{problem.column}",
                object="(source file)", rule=f"yamllint/{problem.rule or 'syntax'}", message=problem.desc,
                hint="fix the YAML; `make lint` shows the same finding",
            ))
    return len(files), findings
