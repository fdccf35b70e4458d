"""Where each CRD comes from: a Go module pinned in tools/versions.env and globs inside it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CrdSource:
    version_variable: str  # NAME in tools/versions.env
    module: str
    globs: tuple[str, ...]  # CRD YAML files inside the module
    # CRD kinds the platform needs; generating fails if the module no longer ships one of them.
    required_kinds: tuple[str, ...]


CRD_SOURCES = (
    CrdSource(
        "ARGOCD_MODULE_VERSION",
        "github.com/argoproj/argo-cd/v3",
        ("manifests/crds/*-crd.yaml",),
        ("Application", "AppProject", "ApplicationSet"),
    ),
    CrdSource(
        "SPARK_OPERATOR_MODULE_VERSION",
        "github.com/kubeflow/spark-operator/v2",
        ("config/crd/bases/sparkoperator.k8s.io_*.yaml",),
        ("SparkApplication", "ScheduledSparkApplication"),
    ),
    CrdSource(
        "PROMETHEUS_OPERATOR_MODULE_VERSION",
        "github.com/prometheus-operator/prometheus-operator",
        # The trimmed CRDs (no descriptions) stay below the API server's annotation size limit.
        ("example/prometheus-operator-crd/monitoring.coreos.com_*.yaml",),
        ("ServiceMonitor", "PodMonitor", "PrometheusRule", "Prometheus", "Alertmanager", "AlertmanagerConfig"),
    ),
    CrdSource(
        "EXTERNAL_SECRETS_MODULE_VERSION",
        "github.com/external-secrets/external-secrets",
        ("config/crds/bases/*.yaml",),
        ("ExternalSecret", "ClusterSecretStore", "SecretStore"),
    ),
)
