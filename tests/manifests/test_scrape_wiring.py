"""The platform apps as apps/monitoring scrapes them: every PodMonitor/ServiceMonitor finds rendered
pods that declare the port, the NetworkPolicies of both ends let Prometheus in (and nobody else
in on the new ports), Airflow's StatsD reaches the exporter, and the exporters are switched on."""
from __future__ import annotations

import shlex

import pytest
import yaml
from netpol import Pod, admits, allowed
from platform_render import CLUSTERS, ROOT, app, configmap_data, containers, find, one, synced_apps
from scrape_targets import cluster_objects, namespace_labels, pod_monitor_targets, pods, prometheus_pod, service_monitor_targets

# Monitors whose targets no manifest here renders, and why.
NOT_RENDERED_HERE = {
    "kubelet": "kubelets on the nodes (Service maintained by the operator in kube-system)",
}
GIT_SYNCED = ["airflow-dag-processor", "airflow-triggerer"]


def absent_apps(env: str) -> set[str]:
    """Platform apps the cluster has no Application for (their monitors have nothing to find)."""
    return {p.parent.name for p in ROOT.glob("apps/*/application.yaml")} - set(synced_apps(env))


# Clusters that run monitoring (clusters/local leaves it out: `needs: cloud-only`).
MONITORED = [c for c in CLUSTERS if "monitoring" in synced_apps(c)]


@pytest.fixture(scope="module", params=MONITORED)
def world(request):
    objects = cluster_objects(request.param)
    return {"env": request.param, "objects": objects, "pods": pods(objects),
            "policies": find(objects, "NetworkPolicy"), "namespaces": namespace_labels(objects),
            "prometheus": prometheus_pod(objects)}


def monitors(objects) -> list[dict]:
    return [o for o in objects if o["kind"] in {"PodMonitor", "ServiceMonitor"}]


def targets_of(monitor: dict, world: dict):
    if monitor["kind"] == "PodMonitor":
        return pod_monitor_targets(monitor, world["pods"])
    return service_monitor_targets(monitor, world["objects"], world["pods"])


def reach(world, source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    return allowed(world["policies"], source, target, port, protocol, world["namespaces"])


def pod_named(world, namespace: str, name: str) -> Pod:
    found = [p for p in world["pods"] if p.namespace == namespace and p.name == name]
    assert len(found) == 1, f"expected one pod {namespace}/{name}, found {len(found)}"
    return found[0]


# --- scrape reachability ----------------------------------------------------------------------

def test_every_monitor_finds_pods_that_declare_its_port(world):
    empty = [f"{m['kind']} {m['metadata']['name']}" for m in monitors(world["objects"])
             if m["metadata"]["name"] not in NOT_RENDERED_HERE and m["metadata"]["name"] not in absent_apps(world["env"])
             and not targets_of(m, world)]
    assert empty == [], f"[{world['env']}] monitors that would scrape nothing (no rendered pod declares the port): {empty}"


def test_prometheus_may_reach_every_scrape_target(world):
    blocked = [str(t) for m in monitors(world["objects"]) for t in targets_of(m, world)
               if not reach(world, world["prometheus"], t.pod, t.port, t.protocol)]
    assert blocked == [], (f"[{world['env']}] NetworkPolicies block these scrapes (need Prometheus egress in "
                           f"monitoring and an ingress rule in the target namespace): {blocked}")


@pytest.mark.parametrize("namespace, name, port", [
    ("airflow", "airflow-dag-processor", 2020), ("airflow", "airflow-triggerer", 2020),
    ("spark-jobs", "etl-template-driver", 4040), ("spark", "spark-master", 8080), ("spark", "spark-worker", 8081),
    ("spark-operator", "spark-operator-controller", 8080), ("cluster-autoscaler", "cluster-autoscaler", 8085),
    ("argocd", "argocd-application-controller", 8082), ("argocd", "argocd-server", 8083),
    ("argocd", "argocd-repo-server", 8084),
])
def test_each_platform_metrics_port_is_scraped_and_reachable(world, namespace, name, port):
    """The wiring the monitoring app asks for, one named target at a time."""
    if name in absent_apps(world["env"]):
        pytest.skip(f"{world['env']} has no Application for {name}")
    scraped = {(t.pod.namespace, t.pod.name, t.port) for m in monitors(world["objects"]) for t in targets_of(m, world)}
    assert (namespace, name, port) in scraped, f"no monitor scrapes {namespace}/{name}:{port}"
    assert reach(world, world["prometheus"], pod_named(world, namespace, name), port)


@pytest.mark.parametrize("namespace, name, port", [
    ("airflow", "airflow-dag-processor", 2020), ("spark-operator", "spark-operator-controller", 8080),
    ("cluster-autoscaler", "cluster-autoscaler", 8085), ("spark-jobs", "etl-template-driver", 4040),
    # Not argocd: the upstream install's own policies admit 8082/8084 from every namespace, and
    # NetworkPolicies only add up; ours just makes the Prometheus scrape explicit.
])
def test_metrics_ports_admit_prometheus_not_other_namespaces(world, namespace, name, port):
    """Default deny still holds on the target side: its ingress rules admit Prometheus, not other
    monitoring pods nor pods of other namespaces (judged without their own egress rules)."""
    if name in absent_apps(world["env"]):
        pytest.skip(f"{world['env']} has no Application for {name}")
    target = pod_named(world, namespace, name)
    trusted = {namespace, "spark-operator"} if namespace == "spark-jobs" else {namespace}  # the operator drives jobs
    outsiders = [p for p in world["pods"] if p.namespace not in trusted and p is not world["prometheus"]]
    outsiders.append(Pod("default", {"app.kubernetes.io/name": "anything"}, name="unmanaged"))
    let_in = [f"{p.namespace}/{p.name}" for p in outsiders
              if admits(world["policies"], target, p, port, "TCP", world["namespaces"])]
    assert let_in == [], f"{namespace}/{name}:{port} admits {let_in}"
    assert admits(world["policies"], target, world["prometheus"], port, "TCP", world["namespaces"])


# --- Airflow -> StatsD -> statsd_exporter -----------------------------------------------------

def test_airflow_metrics_settings_point_at_the_exporter(world):
    settings = configmap_data(app("airflow", world["env"]), "airflow-config", "airflow")
    assert settings.get("AIRFLOW__METRICS__STATSD_ON") == "True"
    host, port = settings["AIRFLOW__METRICS__STATSD_HOST"], int(settings["AIRFLOW__METRICS__STATSD_PORT"])
    service_name, namespace, *rest = host.split(".")
    assert rest == ["svc", "cluster", "local"], f"STATSD_HOST {host} is not a Service DNS name"
    service = one(world["objects"], "Service", service_name, namespace)
    service_port = next((p for p in service["spec"]["ports"] if p["port"] == port), None)
    assert service_port and service_port["protocol"] == "UDP", f"Service {namespace}/{service_name} has no UDP port {port}"
    exporter = one(world["objects"], "Deployment", "airflow-statsd-exporter", "monitoring")
    assert service["spec"]["selector"].items() <= exporter["spec"]["template"]["metadata"]["labels"].items()
    container = containers(exporter["spec"]["template"]["spec"])["statsd-exporter"]
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    listen = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--statsd.listen-udp="))
    assert declared[service_port["targetPort"]] == int(listen.rsplit(":", 1)[1])
    # The mapping's patterns start with the prefix and take dag_id/task_id from the legacy names.
    mapping = yaml.safe_load((ROOT / "apps/monitoring/base/statsd-exporter/airflow-mapping.yaml").read_text())
    prefix = settings["AIRFLOW__METRICS__STATSD_PREFIX"]
    kept = [m["match"] for m in mapping["mappings"] if m.get("action") != "drop"]
    assert kept and all(m.startswith(prefix + ".") for m in kept), f"mapping patterns do not start with {prefix}."
    assert settings["AIRFLOW__METRICS__LEGACY_NAMES_ON"] == "True"


def test_every_airflow_pod_may_send_statsd(world):
    settings = configmap_data(app("airflow", world["env"]), "airflow-config", "airflow")
    port = int(settings["AIRFLOW__METRICS__STATSD_PORT"])
    exporter = pod_named(world, "monitoring", "airflow-statsd-exporter")
    airflow_pods = [p for p in world["pods"] if p.namespace == "airflow" and p.labels.get("app.kubernetes.io/name") == "airflow"]
    assert {p.name for p in airflow_pods} >= {"airflow-scheduler", "airflow-task", *GIT_SYNCED}
    blocked = [p.name for p in airflow_pods if not reach(world, p, exporter, port, "UDP")]
    assert blocked == [], f"UDP {port} to the exporter is blocked for {blocked}"
    assert not reach(world, airflow_pods[0], exporter, port, "TCP"), "StatsD is UDP only"


# --- git-sync metrics ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", GIT_SYNCED)
def test_git_sync_serves_metrics_on_the_declared_port(env, name):
    settings = configmap_data(app("airflow", env), "airflow-git-sync", "airflow")
    assert settings["GITSYNC_HTTP_METRICS"] == "true"
    bind_port = int(settings["GITSYNC_HTTP_BIND"].rsplit(":", 1)[1])
    sidecar = containers(one(app("airflow", env), "Deployment", name, "airflow")["spec"]["template"]["spec"])["git-sync"]
    assert {"name": "metrics", "containerPort": bind_port, "protocol": "TCP"} in sidecar.get("ports", [])


def test_one_time_git_sync_serves_no_metrics(env):
    from platform_render import env_map, task_pod_template
    init = containers(task_pod_template(env)["spec"], init=True)["git-sync-init"]
    assert env_map(init)["GITSYNC_HTTP_BIND"]["value"] == "", "a one-shot sync has nothing to serve"


# --- exporters switched on ----------------------------------------------------------------------

def test_cluster_autoscaler_emits_per_node_group_metrics(env):
    if "cluster-autoscaler" in absent_apps(env):
        pytest.skip(f"{env} has no Cluster Autoscaler")
    container = containers(one(app("cluster-autoscaler", env), "Deployment", "cluster-autoscaler", "cluster-autoscaler")
                           ["spec"]["template"]["spec"])["cluster-autoscaler"]
    assert "--emit-per-nodegroup-metrics=true" in container["command"] + container.get("args", [])
    catalogue = yaml.safe_load((ROOT / "apps/monitoring/metrics-catalogue.yaml").read_text())
    assert "cluster_autoscaler_node_group_max_count" in catalogue["exporters"]["cluster-autoscaler"]["metrics"]


def java_properties(opts: str) -> dict[str, str]:
    return dict(arg.removeprefix("-D").split("=", 1) for arg in shlex.split(opts) if arg.startswith("-D"))


def monitor_paths(env: str, name: str) -> dict[int, str]:
    monitor = one(app("monitoring", env), "PodMonitor", name, "monitoring")
    return {e["portNumber"]: e["path"] for e in monitor["spec"]["podMetricsEndpoints"]}


SERVLET = "org.apache.spark.metrics.sink.PrometheusServlet"


@pytest.mark.parametrize("env", MONITORED)
def test_spark_standalone_serves_prometheus_where_the_pod_monitor_looks(env):
    objects = app("spark-standalone", env)
    paths = monitor_paths(env, "spark-standalone")
    for name, role, variable in [("spark-master", "master", "SPARK_MASTER_OPTS"),
                                 ("spark-worker", "worker", "SPARK_WORKER_OPTS")]:
        container = containers(one(objects, "Deployment", name, "spark")["spec"]["template"]["spec"])[role]
        props = java_properties({e["name"]: e.get("value", "") for e in container["env"]}[variable])
        assert props["spark.metrics.conf.*.sink.prometheusServlet.class"] == SERVLET, name
        ui_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "ui")
        path = props.get(f"spark.metrics.conf.{role}.sink.prometheusServlet.path",
                         props["spark.metrics.conf.*.sink.prometheusServlet.path"])
        assert paths[ui_port] == path, f"{name}: servlet at {path}, PodMonitor scrapes {paths[ui_port]}"


def spark_conf_checks(spark_conf: dict, paths: list[str]) -> list[str]:
    problems = []
    if spark_conf.get("spark.ui.prometheus.enabled") != "true":
        problems.append("spark.ui.prometheus.enabled must be \"true\" (executor metrics)")
    if spark_conf.get("spark.metrics.conf.*.sink.prometheusServlet.class") != SERVLET:
        problems.append(f"spark.metrics.conf.*.sink.prometheusServlet.class must be {SERVLET}")
    if spark_conf.get("spark.metrics.conf.*.sink.prometheusServlet.path") not in paths:
        problems.append(f"spark.metrics.conf.*.sink.prometheusServlet.path must be one of {paths}")
    return problems


@pytest.mark.parametrize("env", MONITORED)
def test_spark_application_template_serves_prometheus_where_the_pod_monitor_looks(env):
    monitor = one(app("monitoring", env), "PodMonitor", "spark-etls", "monitoring")
    paths = [e["path"] for e in monitor["spec"]["podMetricsEndpoints"]]
    assert "/metrics/executors/prometheus" in paths
    template = one(app("airflow", env), "ScheduledSparkApplication", "etl-template", "spark-jobs")["spec"]["template"]
    assert spark_conf_checks(template["sparkConf"], paths) == []


def test_every_platform_namespace_keeps_its_default_deny(world):
    selected_all = {(p["metadata"]["namespace"]) for p in world["policies"]
                    if p["spec"].get("podSelector") in ({}, None)
                    and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                    and not p["spec"].get("ingress") and not p["spec"].get("egress")}
    platform = {"argocd", "airflow", "spark-jobs", "spark-operator", "spark", "cluster-autoscaler",
                "external-secrets", "monitoring"}
    assert platform <= selected_all, f"namespaces without a default-deny policy: {platform - selected_all}"
