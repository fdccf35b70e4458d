"""Spark: the operator's job template, the standalone cluster and the history server."""
from __future__ import annotations

import pytest
from platform_render import app, chart_values, cluster, configmap_data, containers, find, one, overlay


def etl_template(env: str) -> dict:
    return one(app("airflow", env), "ScheduledSparkApplication", "etl-template", "spark-jobs")["spec"]


def test_dynamic_allocation_with_shuffle_tracking(env):
    spec = etl_template(env)["template"]
    dynamic = spec["dynamicAllocation"]
    assert dynamic["enabled"] is True
    assert dynamic["shuffleTrackingEnabled"] is True, "no external shuffle service on Kubernetes"
    assert 0 <= dynamic["minExecutors"] <= dynamic["initialExecutors"] <= dynamic["maxExecutors"]
    assert spec["sparkConf"]["spark.kubernetes.executor.deleteOnTermination"] == "true"


def test_prod_may_scale_further_than_dev():
    dev = etl_template("dev")["template"]["dynamicAllocation"]["maxExecutors"]
    prod = etl_template("prod")["template"]["dynamicAllocation"]["maxExecutors"]
    assert prod > dev


def test_finished_applications_are_cleaned_up(env):
    spec = etl_template(env)
    assert 0 < spec["template"]["timeToLiveSeconds"] <= 24 * 3600
    assert spec["suspend"] is True, "Airflow, not the operator's cron, decides when ETL runs"


@pytest.mark.parametrize("role", ["driver", "executor"])
def test_driver_and_executor_run_as_spark_user(env, role):
    pod = etl_template(env)["template"][role]
    assert pod["podSecurityContext"]["runAsUser"] == 185
    assert pod["podSecurityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["coreRequest"] and pod["coreLimit"] and pod["memory"] and pod["memoryLimit"]
    assert pod["labels"]["app.kubernetes.io/name"]


def test_driver_identity_exists_in_the_job_namespace(env):
    driver_sa = etl_template(env)["template"]["driver"]["serviceAccount"]
    objects = app("spark-operator", env)
    one(objects, "ServiceAccount", driver_sa, "spark-jobs")
    binding = one(objects, "RoleBinding", driver_sa, "spark-jobs")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": driver_sa, "namespace": "spark-jobs"}]


def test_event_logs_go_to_the_cluster_bucket_and_the_history_server_reads_them(env):
    event_dir = f"s3a://mlops-{overlay(env)}-data/spark-events"  # local keeps dev's bucket
    assert etl_template(env)["template"]["sparkConf"]["spark.eventLog.dir"] == event_dir
    assert configmap_data(app("airflow", env), "airflow-etl", "airflow")["ETL_EVENT_LOG_DIR"] == event_dir
    objects = app("spark-standalone", env)
    history = one(objects, "Deployment", "spark-history-server", "spark")["spec"]["template"]["spec"]
    container = containers(history)["history-server"]
    settings_name = container["envFrom"][0]["configMapRef"]["name"]
    settings = one(objects, "ConfigMap", settings_name, "spark")["data"]
    assert settings["SPARK_EVENT_LOG_DIR"] == event_dir
    opts = {e["name"]: e.get("value", "") for e in container["env"]}["SPARK_HISTORY_OPTS"]
    assert "-Dspark.history.fs.logDirectory=$(SPARK_EVENT_LOG_DIR)" in opts


def test_operator_watches_only_the_job_namespace(env):
    operator = one(cluster(env), "Application", "spark-operator", "argocd")
    values = chart_values(operator)
    assert values["spark"]["jobNamespaces"] == ["spark-jobs"]
    assert values["image"]["tag"] == operator["spec"]["sources"][0]["targetRevision"]


# --- standalone cluster -----------------------------------------------------------------------

def test_master_and_worker_ports(env):
    objects = app("spark-standalone", env)
    master = containers(one(objects, "Deployment", "spark-master", "spark")["spec"]["template"]["spec"])["master"]
    assert {p["containerPort"] for p in master["ports"]} == {7077, 8080}
    worker = containers(one(objects, "Deployment", "spark-worker", "spark")["spec"]["template"]["spec"])["worker"]
    assert {p["containerPort"] for p in worker["ports"]} == {8081}
    assert worker["args"][-1] == "spark://spark-master.spark.svc.cluster.local:7077"
    service = one(objects, "Service", "spark-master", "spark")
    assert {p["port"] for p in service["spec"]["ports"]} == {7077, 8080}


def test_worker_size_matches_its_limits(env):
    """Spark must never place more cores/memory on a worker than its container may use."""
    worker = containers(one(app("spark-standalone", env), "Deployment", "spark-worker", "spark")
                        ["spec"]["template"]["spec"])["worker"]
    args = worker["args"]
    cores = int(args[args.index("--cores") + 1])
    memory_gib = int(args[args.index("--memory") + 1].rstrip("g"))
    limits = worker["resources"]["limits"]
    assert cores <= int(limits["cpu"])
    assert memory_gib < int(limits["memory"].rstrip("Gi")), "leave headroom for the worker JVM"


def test_worker_hpa_on_cpu_memory_and_network_with_slow_scale_down(env):
    hpa = one(app("spark-standalone", env), "HorizontalPodAutoscaler", "spark-worker", "spark")
    assert hpa["apiVersion"] == "autoscaling/v2"
    metrics = hpa["spec"]["metrics"]
    assert {m["resource"]["name"] for m in metrics if m["type"] == "Resource"} == {"cpu", "memory"}
    if env == "local":
        # No prometheus-adapter on a laptop, so no network metric, and a short window to watch it
        # (clusters/local/laptop; test_local_hpas_read_only_metrics_the_local_cluster_serves).
        assert len(metrics) == 2, metrics
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    else:
        # The overlays include apps/monitoring's component: bytes received per worker, exactly once.
        assert [m["pods"]["metric"]["name"] for m in metrics if m["type"] == "Pods"] == ["network_receive_bytes_per_second"]
        assert len(metrics) == 3, metrics
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_no_application_needs_the_operator_to_write_network_policies(env):
    """Spark 4.2's spark-submit (run by the operator's controller) creates a NetworkPolicy per
    application unless the step is excluded; the controller has no right to (the first cluster run
    failed with 403 on every submission), and no Role of ours grants it."""
    conf = etl_template(env)["template"]["sparkConf"]
    excluded = conf.get("spark.kubernetes.driver.pod.excludedFeatureSteps", "").split(",")
    assert "org.apache.spark.deploy.k8s.features.NetworkPolicyFeatureStep" in excluded, (
        f"{env}: apps/airflow ScheduledSparkApplication etl-template: spark-submit would create a "
        "NetworkPolicy the operator may not write; exclude NetworkPolicyFeatureStep")
    for kind in ("Role", "ClusterRole"):
        for role in find(app("spark-operator", env), kind):
            for rule in role.get("rules") or []:
                assert "networkpolicies" not in rule.get("resources", []), (
                    f"{env}: apps/spark-operator {kind} {role['metadata']['name']} grants networkpolicies")
