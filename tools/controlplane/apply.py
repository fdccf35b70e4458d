"""Server-side apply rendered manifests to a live API server, the way Argo CD syncs them.

`kubectl apply --server-side` does the applying (the real client, real field manager); the result
is checked object by object so a rejection is reported as
    <source file>: <Kind> <namespace>/<name> rejected by the API server: <server message>.
Each object is written to its own file: the batch is applied in one kubectl call, and only when
that reports errors is each file applied alone, which ties every server message to one object.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.gate import paths as gate_paths
from tools.gate.appset import generated_applications
from tools.gate.render import Rendered, render_with_sources
from tools.schemas.crds import load_crds as parse_crd_file

ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("TOOLS_DIR", ROOT / ".tools"))
# kubectl built at the server's version (kubectl supports +/-1 minor of skew only).
KUBECTL = TOOLS_DIR / "controlplane" / "bin" / "kubectl"
CRDS_DIR = TOOLS_DIR / "crds"
FIELD_MANAGER = "argocd-e2e"
# Applied for real before the dry run: a namespaced object cannot even be dry-run into a
# namespace that does not exist yet, nor a custom resource before its CRD is established.
PREREQUISITE_KINDS = {("", "Namespace"), ("apiextensions.k8s.io", "CustomResourceDefinition")}


class ApplyError(RuntimeError):
    """kubectl itself failed (not a per-object rejection)."""


@dataclass(frozen=True, order=True)
class ObjectKey:
    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict) -> ObjectKey:
        api_version = obj.get("apiVersion", "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        metadata = obj.get("metadata") or {}
        return cls(group, obj.get("kind", ""), metadata.get("namespace", ""), metadata.get("name", ""))

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"


@dataclass
class Rejection:
    key: ObjectKey
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key} rejected by the API server: {self.message}"


@dataclass
class ApplyResult:
    accepted: list[ObjectKey] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    live: dict[ObjectKey, dict] = field(default_factory=dict)  # the server's answer per object
    seconds: float = 0.0

    def summary(self, label: str) -> str:
        return f"{label}: {len(self.accepted)} objects applied, {len(self.rejected)} rejected"


def cluster_sources(cluster: str, root: Path = ROOT) -> list[Path]:
    """What Argo CD syncs for a cluster: clusters/<env> and what each of its Applications syncs
    (the static gate's render units, tools/gate/units.py)."""
    return gate_paths.render_units(cluster, root)


@dataclass
class RenderedCluster:
    items: list[Rendered]
    # The same object from two sources with different content: two Argo CD Applications would
    # fight over it (SharedResourceWarning). The first source's copy is the one applied.
    conflicts: list[str] = field(default_factory=list)


def render_cluster(cluster: str, root: Path = ROOT) -> RenderedCluster:
    """All objects for a cluster, each once (the entry kustomization may include app overlays)."""
    seen: dict[ObjectKey, Rendered] = {}
    conflicts = []
    for source in cluster_sources(cluster, root):
        items = render_with_sources(source)
        if source == root / "clusters" / cluster:
            # What Argo CD's ApplicationSet controller would create from them, checked by the server too.
            items += [Rendered(app, f"apps/{app['metadata']['name']}/application.yaml (generated)")
                      for app in generated_applications([i.obj for i in items], root)]
        for item in items:
            key = ObjectKey.of(item.obj)
            previous = seen.get(key)
            if previous is None:
                seen[key] = item
            elif previous.obj != item.obj:
                conflicts.append(f"{key} is defined twice with different content: {previous.source} "
                                 f"and {item.source}")
    return RenderedCluster(list(seen.values()), conflicts)


def load_crds(crds_dir: Path = CRDS_DIR) -> list[Rendered]:
    """The CRDs of the pinned operator modules (written by `make schemas`)."""
    files = sorted(crds_dir.glob("*.yaml"))
    if not files:
        raise ApplyError(f"no CRD files in {crds_dir}; run `make schemas`")
    items = []
    for path in files:
        # The toolchain's loader: upstream CRDs contain YAML 1.1 oddities (a bare `=` enum value).
        for doc in parse_crd_file(path):
            items.append(Rendered(doc, str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)))
    return items


class Applier:
    """Runs kubectl against one API server; `work_dir` keeps the per-object files for debugging."""

    def __init__(self, kubeconfig: Path, work_dir: Path, kubectl: Path = KUBECTL,
                 field_manager: str = FIELD_MANAGER):
        if not Path(kubectl).is_file():
            raise ApplyError(f"{kubectl} not found; build it with `make controlplane-build`")
        self.kubeconfig = Path(kubeconfig)
        self.work_dir = Path(work_dir)
        self.kubectl = Path(kubectl)
        self.field_manager = field_manager

    def kubectl_run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig),
                   KUBECACHEDIR=str(self.work_dir / "kube-cache"))
        process = subprocess.run([str(self.kubectl), *args], capture_output=True, text=True, env=env,
                                 check=False)
        if check and process.returncode != 0:
            raise ApplyError(f"kubectl {' '.join(args)} failed: {process.stderr.strip()}")
        return process

    def _write_files(self, items: list[Rendered], batch: str) -> dict[str, Rendered]:
        directory = self.work_dir / batch
        if directory.exists():
            for old in directory.glob("*.yaml"):
                old.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        by_file = {}
        for index, item in enumerate(items):
            key = ObjectKey.of(item.obj)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{key.kind}-{key.namespace}-{key.name}")
            path = directory / f"{index:04d}-{safe}.yaml"
            path.write_text(yaml.safe_dump(item.obj, sort_keys=False))
            by_file[str(path)] = item
        return by_file

    def apply(self, items: list[Rendered], *, dry_run: bool, batch: str,
              force_conflicts: bool = False) -> ApplyResult:
        """Server-side apply every object; each is either accepted (and returned) or rejected.

        One kubectl call for the whole batch; only if it reports errors is each object applied
        on its own, because kubectl's server-side errors do not say which file they belong to.
        Re-applying the accepted ones is harmless: server-side apply is idempotent.
        """
        result = ApplyResult()
        if not items:
            return result
        by_file = self._write_files(items, batch)
        started = time.monotonic()
        process = self._kubectl_apply(str(self.work_dir / batch), dry_run, force_conflicts)
        if process.returncode == 0:
            returned = self._parse_output(process.stdout)
            for item in items:
                key = ObjectKey.of(item.obj)
                live = self._find_returned(key, returned)
                if live is None:
                    raise ApplyError(f"kubectl apply succeeded but returned no {key}")
                result.accepted.append(key)
                result.live[key] = live
        else:
            for path, item in by_file.items():
                key = ObjectKey.of(item.obj)
                single = self._kubectl_apply(path, dry_run, force_conflicts)
                if single.returncode == 0:
                    result.accepted.append(key)
                    result.live[key] = self._parse_output(single.stdout)[0]
                else:
                    result.rejected.append(Rejection(key, item.source, self._clean_error(single.stderr, path)))
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def _kubectl_apply(self, target: str, dry_run: bool, force_conflicts: bool) -> subprocess.CompletedProcess:
        args = ["apply", "--server-side", f"--field-manager={self.field_manager}", "-f", target, "-o", "json"]
        if dry_run:
            args.append("--dry-run=server")
        if force_conflicts:
            args.append("--force-conflicts")
        return self.kubectl_run(*args, check=False)

    @staticmethod
    def _parse_output(stdout: str) -> list[dict]:
        if not stdout.strip():
            return []
        # With -o json kubectl prints one object, or a List when there are several.
        document = json.loads(stdout)
        return document.get("items", []) if document.get("kind") == "List" else [document]

    @staticmethod
    def _find_returned(key: ObjectKey, returned: list[dict]) -> dict | None:
        for obj in returned:
            other = ObjectKey.of(obj)
            # A manifest without namespace lands in the kubeconfig's default namespace.
            if (other.group, other.kind, other.name) == (key.group, key.kind, key.name) and (
                not key.namespace or other.namespace == key.namespace
            ):
                return obj
        return None

    @staticmethod
    def _clean_error(stderr: str, path: str) -> str:
        """kubectl's message without warnings and without our temporary file name."""
        lines = [line for line in stderr.strip().splitlines() if line and not line.startswith("Warning:")]
        message = " ".join(lines) or "kubectl failed without a message"
        message = re.sub(r'error when [a-z]+ "' + re.escape(path) + r'": ', "", message)
        return message.replace(path, "(object file)").strip()

    def wait_crds_established(self, crd_names: list[str], timeout_seconds: int = 120) -> None:
        if crd_names:
            self.kubectl_run("wait", "--for=condition=Established", f"--timeout={timeout_seconds}s",
                             *[f"customresourcedefinition/{name}" for name in crd_names])


def split_prerequisites(items: list[Rendered]) -> tuple[list[Rendered], list[Rendered]]:
    first, rest = [], []
    for item in items:
        key = ObjectKey.of(item.obj)
        (first if (key.group, key.kind) in PREREQUISITE_KINDS else rest).append(item)
    return first, rest
