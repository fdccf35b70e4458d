"""Refresh a rotated secret in a live cluster: ESO re-reads it now, its readers restart.

Two writes, both what the upstream tools do:
- ExternalSecret annotation `force-sync=<unix time>`: ESO reconciles on any annotation change, so a
  new value fetches the secret from the store at once instead of at the next refreshInterval;
- pod template annotation `kubectl.kubernetes.io/restartedAt=<RFC 3339 time>`, exactly as
  `kubectl rollout restart` sets it: a template change makes the controller roll every pod.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tools.secrets.discover import Consumer, ExternalSecretRef

FORCE_SYNC_ANNOTATION = "force-sync"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"


@dataclass
class Plan:
    cluster: str
    external_secret: ExternalSecretRef
    consumers: list[Consumer]

    @property
    def restarts(self) -> list[Consumer]:
        return [c for c in self.consumers if c.restartable]

    @property
    def next_run(self) -> list[Consumer]:
        return [c for c in self.consumers if not c.restartable]

    def describe(self) -> list[str]:
        es = self.external_secret
        lines = [f"cluster {self.cluster}: ExternalSecret {es.namespace}/{es.name} (from {es.source}) "
                 f"writes Secret {es.namespace}/{es.target_secret}",
                 f"  1. annotate ExternalSecret {es.namespace}/{es.name} {FORCE_SYNC_ANNOTATION}=<unix time> "
                 "(External Secrets re-reads Secure Key Manager now)"]
        if self.restarts:
            lines.append(f"  2. restart {len(self.restarts)} workload(s) that read the Secret "
                         f"(pod template {RESTARTED_AT_ANNOTATION}):")
            for consumer in self.restarts:
                lines.append(f"     - {consumer}: {'; '.join(consumer.uses)}")
        else:
            lines.append("  2. no Deployment/StatefulSet/DaemonSet reads this Secret: nothing to restart")
        for consumer in self.next_run:
            lines.append(f"     (not restarted: {consumer} reads it at its next run: {'; '.join(consumer.uses)})")
        return lines


@dataclass
class Outcome:
    force_sync: str = ""
    restarted_at: str = ""
    restarted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the manifests but not in the cluster

    @property
    def ok(self) -> bool:
        return not self.missing


def _patch_workload(apps: client.AppsV1Api, consumer: Consumer, body: dict) -> None:
    patchers = {
        "Deployment": apps.patch_namespaced_deployment,
        "StatefulSet": apps.patch_namespaced_stateful_set,
        "DaemonSet": apps.patch_namespaced_daemon_set,
    }
    patchers[consumer.kind](consumer.name, consumer.namespace, body)


def execute(plan: Plan, api: client.ApiClient, now: float | None = None) -> Outcome:
    """Apply the plan through `api` (the current kube context); a missing object is reported, not fatal."""
    now = time.time() if now is None else now
    outcome = Outcome(
        force_sync=str(int(now)),
        restarted_at=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    es = plan.external_secret
    group, version = es.api_version.split("/", 1)
    custom = client.CustomObjectsApi(api)
    try:
        custom.patch_namespaced_custom_object(
            group, version, es.namespace, "externalsecrets", es.name,
            {"metadata": {"annotations": {FORCE_SYNC_ANNOTATION: outcome.force_sync}}},
        )
    except ApiException as error:
        if error.status != 404:
            raise
        outcome.missing.append(f"ExternalSecret {es.namespace}/{es.name}")

    apps = client.AppsV1Api(api)
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: outcome.restarted_at}}}}}
    for consumer in plan.restarts:
        try:
            _patch_workload(apps, consumer, body)
        except ApiException as error:
            if error.status != 404:
                raise
            outcome.missing.append(str(consumer))
            continue
        outcome.restarted.append(str(consumer))
    return outcome
