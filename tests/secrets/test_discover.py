"""Consumer discovery on the rendered real clusters, and the CLI's answers to bad input (offline)."""
from __future__ import annotations

import pytest

from tools.gate import paths
from tools.secrets.__main__ import build_plan, main
from tools.secrets.discover import (
    RotationError,
    find_consumers,
    find_external_secret,
    render_cluster_objects,
    secret_uses,
)

CLUSTERS = paths.clusters()
AIRFLOW_COMPONENTS = {"airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


@pytest.fixture(scope="module", params=CLUSTERS)
def cluster(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def rendered(cluster):
    return render_cluster_objects(cluster)


def test_clusters_exist():
    assert CLUSTERS, "no clusters/<env>/kustomization.yaml: nothing to test"


def test_fernet_key_is_read_by_every_airflow_component(cluster):
    plan = build_plan(cluster, "airflow-fernet-key", "airflow")
    assert plan.external_secret.target_secret == "airflow-fernet-key"
    restarted = {c.name for c in plan.restarts}
    assert restarted == AIRFLOW_COMPONENTS
    assert all(c.kind == "Deployment" and c.namespace == "airflow" for c in plan.restarts)
    for consumer in plan.restarts:
        assert any(use.startswith("env AIRFLOW__CORE__FERNET_KEY <- key fernet-key") for use in consumer.uses), consumer
    # The migration Job reads it too, but at its next run: it is listed, never restarted.
    assert all(c.kind in ("Job", "CronJob") for c in plan.next_run)


def test_metadata_db_connection_is_found_in_init_containers_too(cluster):
    plan = build_plan(cluster, "airflow-metadata-db", "airflow")
    scheduler = next(c for c in plan.restarts if c.name == "airflow-scheduler")
    assert any("initContainer" in use for use in scheduler.uses), scheduler.uses


def test_a_secret_only_spark_applications_read_restarts_nothing(cluster):
    # spark-jobs holds SparkApplications and their pods only: no long-running workload to restart.
    plan = build_plan(cluster, "object-storage-credentials", "spark-jobs")
    assert plan.restarts == []
    assert any("nothing to restart" in line for line in plan.describe())


def test_a_secret_nobody_reads_has_no_consumers(rendered):
    assert find_consumers(rendered, "airflow", "no-workload-reads-this") == []


def test_consumers_are_only_looked_for_in_the_secrets_namespace(rendered):
    # The same Secret name in another namespace is another Secret.
    assert find_consumers(rendered, "monitoring", "airflow-fernet-key") == []


def test_unknown_external_secret_exits_2_listing_the_known_ones(cluster, capsys):
    assert main(["--cluster", cluster, "--namespace", "airflow", "--secret", "airflow-fernet-kee", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert f"cluster {cluster}: no ExternalSecret airflow/airflow-fernet-kee" in error
    assert "airflow/airflow-fernet-key" in error and "airflow/airflow-metadata-db" in error


def test_a_name_in_several_namespaces_needs_the_namespace(cluster, capsys):
    assert main(["--cluster", cluster, "--secret", "object-storage-credentials", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert "several namespaces" in error and "spark-jobs" in error and "NAMESPACE=" in error


def test_unknown_cluster_exits_2_naming_the_clusters(capsys):
    assert main(["--cluster", "qa", "--secret", "airflow-fernet-key", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert "unknown cluster 'qa'" in error and all(c in error for c in CLUSTERS)


def test_dry_run_prints_the_plan_without_touching_a_cluster(cluster, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    assert main(["--cluster", cluster, "--namespace", "airflow", "--secret", "airflow-fernet-key", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "force-sync=<unix time>" in out
    assert "Deployment airflow/airflow-scheduler" in out
    assert out.rstrip().endswith("dry run: nothing changed")


def test_without_a_kube_context_the_rotation_fails_clearly(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["--cluster", CLUSTERS[0], "--namespace", "airflow", "--secret", "airflow-fernet-key"]) == 1
    assert "no usable kube context" in capsys.readouterr().err


def test_every_way_a_pod_reads_a_secret_is_found():
    pod_spec = {
        "initContainers": [{"name": "init", "env": [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "s", "key": "k"}}},
        ]}],
        "containers": [
            {"name": "main", "envFrom": [{"secretRef": {"name": "s"}}, {"configMapRef": {"name": "s"}}]},
            {"name": "side", "env": [{"name": "C", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}}]},
        ],
        "volumes": [
            {"name": "v1", "secret": {"secretName": "s"}},
            {"name": "v2", "projected": {"sources": [{"configMap": {"name": "s"}}, {"secret": {"name": "s"}}]}},
            {"name": "v3", "secret": {"secretName": "other"}},
            {"name": "v4", "emptyDir": {}},
        ],
    }
    assert secret_uses(pod_spec, "s") == [
        "env A <- key k (initContainer init)",
        "envFrom (container main)",
        "volume v1",
        "projected volume v2",
    ]
    assert secret_uses(pod_spec, "nobody") == []


def test_target_name_is_the_secret_looked_for():
    external_secret = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                       "metadata": {"name": "es", "namespace": "ns"},
                       "spec": {"target": {"name": "written-secret"}}}
    def workload(name, secret):
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "ns"},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": secret}}]}]}}}}
    objects = [(external_secret, "x"), (workload("reads-target", "written-secret"), "x"), (workload("reads-es", "es"), "x")]
    ref = find_external_secret(objects, "test", "es", None)
    assert ref.target_secret == "written-secret"
    assert [c.name for c in find_consumers(objects, "ns", ref.target_secret)] == ["reads-target"]
    with pytest.raises(RotationError, match="known ExternalSecrets: ns/es"):
        find_external_secret(objects, "test", "written-secret", None)


@pytest.mark.parametrize("spec, refused", [
    ({"refreshPolicy": "CreatedOnce"}, "CreatedOnce"),
    ({"refreshInterval": "0"}, "refreshInterval '0'"),
    ({"refreshPolicy": "Periodic", "refreshInterval": "0s"}, "refreshInterval '0s'"),
    ({"refreshPolicy": "OnChange", "refreshInterval": "0"}, None),
    ({"refreshInterval": "1h"}, None),
    ({}, None),
])
def test_a_secret_that_force_sync_cannot_refresh_is_refused(spec, refused):
    # ESO ignores the force-sync annotation for these policies: restarting would re-read the old value.
    objects = [({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                 "metadata": {"name": "es", "namespace": "ns"}, "spec": spec}, "apps/x/overlays/dev")]
    if refused is None:
        assert find_external_secret(objects, "dev", "es", "ns").name == "es"
    else:
        with pytest.raises(RotationError, match=f"apps/x/overlays/dev: ExternalSecret ns/es: .*{refused}"):
            find_external_secret(objects, "dev", "es", "ns")
