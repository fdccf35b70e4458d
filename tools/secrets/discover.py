"""Which ExternalSecret a rotation is about, and which workloads read its Secret (offline).

Everything here works on rendered manifests (what Argo CD applies), so the answer is the same on a
laptop and in CI, and needs no cluster.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tools.gate import paths
from tools.gate.render import render

# Controllers that keep pods running: restarting them rolls pods that read the Secret at start-up.
RESTARTABLE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# Controllers whose pods start later anyway: they pick the new value up at their next run.
NEXT_RUN_KINDS = ("CronJob", "Job")


class RotationError(RuntimeError):
    """Bad input (unknown cluster, namespace or ExternalSecret); the message names what exists."""


@dataclass(frozen=True)
class ExternalSecretRef:
    namespace: str
    name: str
    api_version: str
    target_secret: str  # the Secret ESO writes (spec.target.name, default: the ExternalSecret name)
    source: str  # the unit (cluster entry or app overlay) that renders it


@dataclass
class Consumer:
    kind: str
    namespace: str
    name: str
    api_version: str
    uses: list[str] = field(default_factory=list)  # how, e.g. "env FERNET_KEY (container scheduler)"

    @property
    def restartable(self) -> bool:
        return self.kind in RESTARTABLE_KINDS

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def render_cluster_objects(cluster: str, root: Path = paths.ROOT) -> list[tuple[dict, str]]:
    """(object, unit) for every object Argo CD syncs to the cluster, each object once."""
    known = paths.clusters(root)
    if cluster not in known:
        raise RotationError(f"unknown cluster {cluster!r}: clusters/ has {', '.join(known) or 'none'}")
    seen: set[tuple[str, str, str, str]] = set()
    objects = []
    for unit in paths.render_units(cluster, root):
        for obj in render(unit):
            metadata = obj.get("metadata") or {}
            key = (obj.get("apiVersion", ""), obj.get("kind", ""), metadata.get("namespace", ""),
                   metadata.get("name", ""))
            if key not in seen:
                seen.add(key)
                objects.append((obj, paths.rel(unit)))
    return objects


def external_secrets(objects: list[tuple[dict, str]]) -> list[ExternalSecretRef]:
    found = []
    for obj, unit in objects:
        if obj.get("kind") != "ExternalSecret" or not obj.get("apiVersion", "").startswith("external-secrets.io/"):
            continue
        metadata = obj["metadata"]
        target = ((obj.get("spec") or {}).get("target") or {}).get("name") or metadata["name"]
        found.append(ExternalSecretRef(metadata.get("namespace", "default"), metadata["name"],
                                       obj["apiVersion"], target, unit))
    return sorted(found, key=lambda ref: (ref.namespace, ref.name))


def _never_refreshes(spec: dict) -> str | None:
    """Why ESO would ignore a force-sync for this spec (None when it honours it)."""
    policy = spec.get("refreshPolicy") or "Periodic"
    if policy == "CreatedOnce":
        return "refreshPolicy CreatedOnce never updates the Secret after creating it"
    interval = str(spec.get("refreshInterval", "1h")).strip()
    if policy == "Periodic" and interval.strip("0smh") == "":
        return f"refreshPolicy Periodic with refreshInterval {interval!r} never refreshes, not even on an annotation change"
    return None


def find_external_secret(objects: list[tuple[dict, str]], cluster: str, name: str,
                         namespace: str | None) -> ExternalSecretRef:
    """The one ExternalSecret meant; an error listing the known ones when it is missing or ambiguous."""
    known = external_secrets(objects)
    matches = [ref for ref in known if ref.name == name and (namespace is None or ref.namespace == namespace)]
    listing = ", ".join(f"{ref.namespace}/{ref.name}" for ref in known) or "none"
    if not matches:
        where = f"{namespace}/{name}" if namespace else name
        raise RotationError(f"cluster {cluster}: no ExternalSecret {where} in the rendered manifests "
                            f"(clusters/{cluster} and what its Applications sync); known ExternalSecrets: {listing}")
    if len(matches) > 1:
        namespaces = ", ".join(ref.namespace for ref in matches)
        raise RotationError(f"cluster {cluster}: ExternalSecret {name} exists in several namespaces "
                            f"({namespaces}); pass NAMESPACE=<one of them>")
    ref = matches[0]
    spec = next(o.get("spec") or {} for o, _ in objects if o.get("kind") == "ExternalSecret"
                and o["metadata"]["name"] == ref.name and o["metadata"].get("namespace", "default") == ref.namespace)
    reason = _never_refreshes(spec)
    if reason:
        raise RotationError(f"{ref.source}: ExternalSecret {ref.namespace}/{ref.name}: {reason}, so a force-sync "
                            "cannot deliver the rotated value; use refreshPolicy OnChange or a non-zero refreshInterval")
    return ref


def _pod_spec(obj: dict) -> dict | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) if "template" in spec else None


def secret_uses(pod_spec: dict, secret: str) -> list[str]:
    """Every way a pod spec reads `secret`: env secretKeyRef, envFrom, secret and projected volumes."""
    uses = []
    containers = [("initContainer", c) for c in pod_spec.get("initContainers") or []]
    containers += [("container", c) for c in pod_spec.get("containers") or []]
    for role, container in containers:
        where = f"({role} {container.get('name', '?')})"
        for env in container.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("secretKeyRef")) or {}
            if ref.get("name") == secret:
                uses.append(f"env {env.get('name')} <- key {ref.get('key')} {where}")
        for source in container.get("envFrom") or []:
            if ((source.get("secretRef") or {}).get("name")) == secret:
                uses.append(f"envFrom {where}")
    for volume in pod_spec.get("volumes") or []:
        if ((volume.get("secret") or {}).get("secretName")) == secret:
            uses.append(f"volume {volume.get('name')}")
        for source in ((volume.get("projected") or {}).get("sources")) or []:
            if ((source.get("secret") or {}).get("name")) == secret:
                uses.append(f"projected volume {volume.get('name')}")
    return uses


def find_consumers(objects: list[tuple[dict, str]], namespace: str, secret: str) -> list[Consumer]:
    """Workloads in `namespace` whose pods read `secret` (a Secret is only visible in its namespace)."""
    consumers = []
    for obj, _unit in objects:
        if obj.get("kind") not in RESTARTABLE_KINDS + NEXT_RUN_KINDS:
            continue
        metadata = obj.get("metadata") or {}
        if metadata.get("namespace", "default") != namespace:
            continue
        pod_spec = _pod_spec(obj)
        uses = secret_uses(pod_spec, secret) if pod_spec else []
        if uses:
            consumers.append(Consumer(obj["kind"], namespace, metadata["name"], obj["apiVersion"], uses))
    return sorted(consumers, key=lambda c: (c.kind, c.name))
