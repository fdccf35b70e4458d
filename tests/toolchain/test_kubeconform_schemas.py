"""kubeconform with the generated schema dir is as strict as the API server, for K8s kinds and CRDs.

Each test writes the objects it needs; a valid twin shows a rejection is about the one bad field.
"""

from __future__ import annotations

import copy

import pytest
from toolchain_support import kubeconform

REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"


def deployment(name: str, **container_extra) -> dict:
    container = {
        "name": "web",
        "image": f"{REGISTRY}/airflow:3.3.2-1",
        "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}},
        **container_extra,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "airflow", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "strategy": {"rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {"containers": [container]},
            },
        },
    }


def application(name: str) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "mlops-platform",
            "source": {"repoURL": "https://example.invalid/mlops.git", "targetRevision": "main", "path": "clusters/dev"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "airflow"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["ServerSideApply=true"]},
        },
    }


def spark_application(name: str) -> dict:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": "spark-jobs"},
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "pythonVersion": "3",
            "sparkVersion": "4.2.0",
            "image": f"{REGISTRY}/spark-etl:1.0.0",
            "mainApplicationFile": "local:///opt/spark/work-dir/jobs/prepare_training_data.py",
            "arguments": ["--date", "2026-11-28"],
            "sparkConf": {"spark.sql.shuffle.partitions": "8"},
            "restartPolicy": {"type": "Never"},
            "driver": {"cores": 1, "coreLimit": "1", "memory": "1g", "serviceAccount": "spark-driver"},
            "executor": {"cores": 1, "instances": 2, "memory": "2g"},
        },
    }


def external_secret(name: str) -> dict:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": "airflow"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "nhn-secure-key-manager"},
            "target": {"name": "airflow-fernet-key", "creationPolicy": "Owner"},
            "data": [{"secretKey": "fernet-key", "remoteRef": {"key": "airflow-fernet-key"}}],
        },
    }


def service_monitor(name: str, target_port) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": "monitoring"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "airflow"}},
            "endpoints": [{"targetPort": target_port, "interval": "30s"}],
        },
    }


def with_field(obj: dict, path: tuple, value, name: str) -> dict:
    """Copy of ``obj`` renamed to ``name`` with ``value`` set at ``path`` (keys / list indexes)."""
    result = copy.deepcopy(obj)
    result["metadata"]["name"] = name
    node = result
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return result


@pytest.mark.parametrize("kubernetes_version", ["1.34.0", "1.35.0"])
def test_kubernetes_schema_rejects_unknown_nested_field_and_wrong_type(tmp_path, kubernetes_version):
    results = kubeconform(
        [
            deployment("good"),
            deployment("unknown-field", imagePullPolicyy="Always"),
            deployment("wrong-type", ports=[{"containerPort": "eighty"}]),
            with_field(deployment("x"), ("spec", "template", "spec", "securityContext"), {"runAsNonRoot": "yes"}, "wrong-bool"),
            with_field(deployment("x"), ("metadata", "lables"), {"a": "b"}, "unknown-metadata-field"),
        ],
        tmp_path,
        kubernetes_version,
    )
    assert results["good"].valid, results["good"].message
    assert results["unknown-field"].status == "statusInvalid"
    assert "'imagePullPolicyy' not allowed" in results["unknown-field"].message
    assert "/spec/template/spec/containers/0" in results["unknown-field"].message
    assert results["wrong-type"].status == "statusInvalid"
    assert "containerPort" in results["wrong-type"].message and "want integer" in results["wrong-type"].message
    assert results["wrong-bool"].status == "statusInvalid"
    assert "runAsNonRoot" in results["wrong-bool"].message and "boolean" in results["wrong-bool"].message
    assert results["unknown-metadata-field"].status == "statusInvalid"
    assert "'lables' not allowed" in results["unknown-metadata-field"].message


def test_argocd_application_schema(tmp_path):
    results = kubeconform(
        [
            application("good"),
            with_field(application("x"), ("spec", "autoSync"), True, "unknown-spec-field"),
            with_field(application("x"), ("spec", "syncPolicy", "automated", "prun"), True, "unknown-nested-field"),
            with_field(application("x"), ("spec", "revisionHistoryLimit"), "ten", "wrong-type"),
        ],
        tmp_path,
    )
    assert results["good"].valid, results["good"].message
    assert "'autoSync' not allowed" in results["unknown-spec-field"].message
    assert "'prun' not allowed" in results["unknown-nested-field"].message
    assert results["wrong-type"].status == "statusInvalid"


def test_spark_application_schema(tmp_path):
    results = kubeconform(
        [
            spark_application("good"),
            with_field(spark_application("x"), ("spec", "executorCount"), 2, "unknown-spec-field"),
            with_field(spark_application("x"), ("spec", "driver", "cpu"), 1, "unknown-driver-field"),
            with_field(spark_application("x"), ("spec", "type"), "Rust", "not-in-enum"),
            with_field(spark_application("x"), ("apiVersion",), "sparkoperator.k8s.io/v1beta1", "old-version"),
        ],
        tmp_path,
    )
    assert results["good"].valid, results["good"].message
    assert "'executorCount' not allowed" in results["unknown-spec-field"].message
    assert "'cpu' not allowed" in results["unknown-driver-field"].message
    assert results["not-in-enum"].status == "statusInvalid"
    # v1beta1 was removed from the operator: no schema is a failure, never a skip.
    assert results["old-version"].status == "statusError"
    assert "could not find schema" in results["old-version"].message


def test_external_secret_schema(tmp_path):
    missing_key = external_secret("missing-remote-key")
    del missing_key["spec"]["data"][0]["remoteRef"]["key"]
    results = kubeconform(
        [
            external_secret("good"),
            with_field(external_secret("x"), ("spec", "secretStore"), {"name": "s"}, "unknown-spec-field"),
            missing_key,
        ],
        tmp_path,
    )
    assert results["good"].valid, results["good"].message
    assert "'secretStore' not allowed" in results["unknown-spec-field"].message
    assert results["missing-remote-key"].status == "statusInvalid"
    assert "key" in results["missing-remote-key"].message


def test_int_or_string_accepts_both_and_nothing_else(tmp_path):
    results = kubeconform(
        [
            service_monitor("by-number", 8080),
            service_monitor("by-name", "metrics"),
            service_monitor("by-list", [8080]),
        ],
        tmp_path,
    )
    assert results["by-number"].valid, results["by-number"].message
    assert results["by-name"].valid, results["by-name"].message
    assert results["by-list"].status == "statusInvalid"


def test_crd_metadata_is_checked_as_object_meta(tmp_path):
    results = kubeconform(
        [
            with_field(spark_application("x"), ("metadata", "labels"), {"team": 7}, "label-not-string"),
            with_field(spark_application("x"), ("metadata", "annotation"), {"a": "b"}, "unknown-metadata-field"),
        ],
        tmp_path,
    )
    assert results["label-not-string"].status == "statusInvalid"
    assert "'annotation' not allowed" in results["unknown-metadata-field"].message


def test_kind_without_schema_fails(tmp_path):
    unknown = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "unknown-kind"},
        "spec": {"size": 1},
    }
    results = kubeconform([deployment("good"), unknown], tmp_path)
    assert results["unknown-kind"].status == "statusError"
    assert "could not find schema for Widget" in results["unknown-kind"].message
