"""The local git server's content: this repository, and mirrors of the upstream sources our
Applications pull, made from the pinned Go modules' contents (the module proxy is the only source).

- A git source (`upstream:` of apps/<app>/application.yaml) becomes a bare repository
  `git/<last path element of its URL>` with one commit per version, tagged with that version.
- A Helm chart (`chart:`) becomes a Helm repository `charts/<last path element>/` (index.yaml and the
  packaged chart) made with the pinned helm from the chart folder inside the module.
Which versions: exactly those the local cluster's Applications name (computed from clusters/local
the way the gate does), so the mirror holds what Argo CD will ask for, and nothing else.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.schemas.gomod import download


@dataclass(frozen=True)
class ModuleSource:
    module: str
    folder: str = ""   # a chart's folder inside the module; "" for a git mirror of the whole module
    tag_prefix: str = "v"  # module version = tag_prefix + chart version, for charts
    app_version: str = "{version}"  # the chart's appVersion (its images' default tag) for a version
    # CRDs a release copies into the chart (they are generated, not in the chart folder of the
    # module): a file in the module, added as templates/crds/<name> under `if .Values.<flag>`.
    release_crds: tuple[str, str] | None = None


# Upstream URL -> the Go module that carries the same files.
SOURCES = {
    "https://github.com/argoproj/argo-cd.git": ModuleSource("github.com/argoproj/argo-cd/v3"),
    "https://github.com/prometheus-operator/prometheus-operator.git":
        ModuleSource("github.com/prometheus-operator/prometheus-operator"),
    "https://kubeflow.github.io/spark-operator":
        ModuleSource("github.com/kubeflow/spark-operator/v2", "charts/spark-operator-chart"),
    "https://charts.external-secrets.io":
        ModuleSource("github.com/external-secrets/external-secrets", "deploy/charts/external-secrets",
                     app_version="v{version}", release_crds=("deploy/crds/bundle.yaml", "installCRDs")),
}
# Commits of the mirrors are reproducible: same module, same commit id on every machine.
COMMIT_ENV = {"GIT_AUTHOR_NAME": "mlops-platform mirror", "GIT_AUTHOR_EMAIL": "mirror@localhost",
              "GIT_COMMITTER_NAME": "mlops-platform mirror", "GIT_COMMITTER_EMAIL": "mirror@localhost",
              "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


class MirrorError(RuntimeError):
    pass


def base_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def wanted(applications: list[dict]) -> list[tuple[str, str, str]]:
    """(kind, upstream URL, version) for every upstream source the Applications read from a mirror:
    kind "git" or "chart". Sources of this repository are left out."""
    out = set()
    for app in applications:
        for source in app["spec"].get("sources") or [app["spec"]["source"]]:
            url = source.get("repoURL", "")
            if "/git/nks-mlops-gitops" in url:
                continue
            name = base_name(url)
            upstream = next((u for u in SOURCES if base_name(u) == name), None)
            if upstream is None:
                continue
            out.add(("chart" if source.get("chart") else "git", upstream, source["targetRevision"]))
    return sorted(out)


def _git(*args: str, cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **COMMIT_ENV, **(env or {})})
    if result.returncode != 0:
        raise MirrorError(f"git {' '.join(args)} in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def ensure_bare(path: Path) -> Path:
    if not (path / "HEAD").exists():
        path.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", "--bare", "--initial-branch=main", str(path), cwd=path.parent)
    return path


def git_mirror(root: Path, upstream: str, version: str) -> Path:
    """git/<name>.git with tag `version` holding the module's files; a no-op when the tag exists."""
    bare = ensure_bare(root / "git" / base_name(upstream))
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{version}"], cwd=bare,
                      capture_output=True).returncode == 0:
        return bare
    module_dir = download(SOURCES[upstream].module, version)
    with tempfile.TemporaryDirectory(prefix="mirror-") as work:
        tree = Path(work) / "tree"
        shutil.copytree(module_dir, tree, symlinks=True)
        _git("init", "--quiet", "--initial-branch=main", cwd=tree)
        _git("add", "--all", "--force", cwd=tree)
        _git("commit", "--quiet", "--no-verify", "-m", f"{SOURCES[upstream].module}@{version} (from the Go module proxy)",
             cwd=tree)
        _git("tag", version, cwd=tree)
        _git("push", "--quiet", str(bare), f"refs/tags/{version}", cwd=tree)
    return bare


def chart_mirror(root: Path, upstream: str, version: str, url_root: str, helm: Path) -> Path:
    """charts/<name>/ with the chart at `version` packaged, and its index."""
    source = SOURCES[upstream]
    out = root / "charts" / base_name(upstream)
    out.mkdir(parents=True, exist_ok=True)
    module_dir = download(source.module, source.tag_prefix + version)
    chart_dir = module_dir / source.folder
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    archive = out / f"{chart['name']}-{version}.tgz"
    if not archive.exists():
        with tempfile.TemporaryDirectory(prefix="chart-") as work:
            copy = Path(work) / chart["name"]
            shutil.copytree(chart_dir, copy)
            os.chmod(copy, 0o755)
            _drop_disabled_dependencies(copy)
            if source.release_crds:
                crds, flag = source.release_crds
                text = (module_dir / crds).read_text()
                if "{{" in text:
                    raise MirrorError(f"{module_dir / crds}: has template braces; it cannot go into the chart as is")
                target = copy / "templates" / "crds" / Path(crds).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(f"{{{{- if .Values.{flag} }}}}\n{text}\n{{{{- end }}}}\n")
            # The module is the release's source; a release sets the chart's version and appVersion
            # when it is published (the module's Chart.yaml may still say the previous patch), so
            # the package takes the version the Application asks for, as the published chart has.
            _run([str(helm), "package", str(copy), "--version", version,
                  "--app-version", source.app_version.format(version=version), "--destination", str(out)])
    _run([str(helm), "repo", "index", str(out), "--url", f"{url_root}/charts/{base_name(upstream)}"])
    return archive


def _drop_disabled_dependencies(chart_dir: Path) -> None:
    """A dependency the module does not carry (a chart of another repository) can stay out of the
    mirror only if the chart disables it by default (its `condition` is false in values.yaml): it
    renders nothing then. One that is enabled is an error, never silently dropped."""
    chart_file = chart_dir / "Chart.yaml"
    chart = yaml.safe_load(chart_file.read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    kept = []
    for dependency in chart.get("dependencies") or []:
        if (chart_dir / "charts" / dependency["name"]).exists():
            kept.append(dependency)
            continue
        value: object = values
        for part in (dependency.get("condition") or "").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not False:
            raise MirrorError(f"{chart_file}: dependency {dependency['name']} is not in the module and is enabled "
                              f"by default (condition {dependency.get('condition')!r}); it cannot be mirrored")
    if kept != (chart.get("dependencies") or []):
        if kept:
            chart["dependencies"] = kept
        else:
            chart.pop("dependencies", None)
        chart_file.write_text(yaml.safe_dump(chart, sort_keys=False))


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise MirrorError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")


def publish_repo(root: Path, checkout: Path, name: str = "nks-mlops-gitops.git", branch: str = "main") -> str:
    """Push the checkout's HEAD to the local remote's `branch`; returns the commit."""
    bare = ensure_bare(root / "git" / name)
    commit = _git("rev-parse", "HEAD", cwd=checkout)
    _git("push", "--quiet", "--force", str(bare), f"{commit}:refs/heads/{branch}", cwd=checkout)
    return commit
