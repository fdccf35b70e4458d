"""Pods a cluster runs and the targets Prometheus would scrape in them, from rendered manifests.

Pods come from every rendered pod template (workloads, the Airflow task pod template, the Spark
driver of SparkApplication templates) plus two sources that cannot be rendered here: the upstream
Argo CD install (rendered from the Argo CD Go module at ARGOCD_MODULE_VERSION, the same files the
gate's CRD schemas come from) and the Spark operator chart (modelled below from its chart values).
Targets follow the prometheus-operator's rules: namespaces from namespaceSelector, pods/services
from the label selector, the endpoint's port, and `keep` relabelings.
"""
from __future__ import annotations

import functools
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from netpol import Pod, selector_matches
from platform_render import PLATFORM_APPS, app, render_dir

from tools.versions import read_versions

CLUSTER_SCOPED_KINDS = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                        "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
                        "PriorityClass", "StorageClass", "PersistentVolume"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Spark's own driver pod (BasicDriverFeatureStep): UI 4040 unless spark.ui.port says otherwise.
SPARK_DRIVER_CONTAINER = "spark-kubernetes-driver"


@dataclass(frozen=True)
class Target:
    monitor: str
    pod: Pod
    container: str
    port: int
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.monitor} -> {self.pod.namespace}/{self.pod.name}[{self.container}]:{self.port}"


def _versions() -> dict[str, str]:
    return read_versions()


@functools.cache
def argocd_upstream() -> tuple[dict, ...]:
    """The upstream install the argocd Application syncs first (manifests/cluster-install)."""
    module = f"github.com/argoproj/argo-cd/v3@{_versions()['ARGOCD_MODULE_VERSION']}"
    proc = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True, text=True, check=False)
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or not info.get("Dir"):
        raise RuntimeError(f"go mod download {module} failed (run `make schemas`): {info.get('Error') or proc.stderr}")
    objects = render_dir(Path(info["Dir"]) / "manifests" / "cluster-install")
    for obj in objects:  # namespace-install objects carry no namespace; Argo CD puts them in argocd
        if obj["kind"] not in CLUSTER_SCOPED_KINDS:
            obj.setdefault("metadata", {}).setdefault("namespace", "argocd")
    return tuple(objects)


def spark_operator_controller() -> Pod:
    """The chart's controller pod (spark-operator 2.3.0 selector labels, metrics on 8080, the
    commonLabels our Application sets); the chart is not renderable offline."""
    return Pod("spark-operator", {
        "app.kubernetes.io/name": "spark-operator", "app.kubernetes.io/instance": "spark-operator",
        "app.kubernetes.io/component": "controller", "app.kubernetes.io/part-of": "mlops-platform",
        "owner": "data-platform"}, {"spark-operator-controller": {"metrics": (8080, "TCP")}},
        name="spark-operator-controller")


def cluster_objects(env: str) -> list[dict]:
    objects = [o for name in [*PLATFORM_APPS, "monitoring"] for o in app(name, env)]
    return objects + list(argocd_upstream())


def _pod(namespace: str, name: str, template: dict) -> Pod:
    spec = template.get("spec", {})
    containers = {c["name"]: {p.get("name", str(p["containerPort"])): (p["containerPort"], p.get("protocol", "TCP"))
                              for p in c.get("ports", [])}
                  for c in spec.get("containers", [])}
    return Pod(namespace, dict(template.get("metadata", {}).get("labels") or {}), containers, name,
               bool(spec.get("hostNetwork")))


def _spark_driver(obj: dict) -> Pod:
    spec = obj["spec"].get("template", obj["spec"])  # ScheduledSparkApplication wraps a template
    ui_port = int(spec.get("sparkConf", {}).get("spark.ui.port", 4040))
    labels = {**spec["driver"].get("labels", {}), "spark-role": "driver"}
    return Pod(obj["metadata"]["namespace"], labels,
               {SPARK_DRIVER_CONTAINER: {"spark-ui": (ui_port, "TCP"), "driver-rpc-port": (7078, "TCP")}},
               f"{obj['metadata']['name']}-driver")


def pods(objects: list[dict]) -> list[Pod]:
    out = [spark_operator_controller()]
    for obj in objects:
        kind, meta = obj.get("kind"), obj.get("metadata", {})
        if kind in WORKLOAD_KINDS:
            out.append(_pod(meta.get("namespace", ""), meta["name"], obj["spec"]["template"]))
        elif kind == "CronJob":
            out.append(_pod(meta.get("namespace", ""), meta["name"], obj["spec"]["jobTemplate"]["spec"]["template"]))
        elif kind in {"SparkApplication", "ScheduledSparkApplication"}:
            out.append(_spark_driver(obj))
        elif kind == "ConfigMap" and meta.get("name") == "airflow-pod-template":
            template = yaml.safe_load(obj["data"]["pod_template_file.yaml"])
            out.append(_pod(meta["namespace"], "airflow-task", template))
    return out


def prometheus_pod(objects: list[dict]) -> Pod:
    """Labels of the pods the operator creates for the Prometheus CR (podMetadata + its own)."""
    prometheus = next(o for o in objects if o["kind"] == "Prometheus")
    name, namespace = prometheus["metadata"]["name"], prometheus["metadata"]["namespace"]
    labels = {**prometheus["spec"].get("podMetadata", {}).get("labels", {}),
              "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator",
              "app.kubernetes.io/instance": name, "prometheus": name}
    return Pod(namespace, labels, {"prometheus": {"web": (9090, "TCP")}}, f"prometheus-{name}-0")


def namespace_labels(objects: list[dict]) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objects if o["kind"] == "Namespace"}


def _in_namespaces(monitor: dict, namespace: str) -> bool:
    selector = monitor["spec"].get("namespaceSelector") or {}
    if selector.get("any"):
        return True
    return namespace in (selector.get("matchNames") or [monitor["metadata"]["namespace"]])


def _meta_value(source: str, pod: Pod, container: str) -> str:
    if source == "__meta_kubernetes_pod_container_name":
        return container
    if source.startswith("__meta_kubernetes_pod_label_"):
        wanted = source.removeprefix("__meta_kubernetes_pod_label_")
        return next((v for k, v in pod.labels.items() if re.sub(r"[^a-zA-Z0-9_]", "_", k) == wanted), "")
    raise AssertionError(f"scrape_targets: relabel source {source} is not modelled; extend _meta_value")


def _kept(relabelings: list[dict] | None, pod: Pod, container: str) -> bool:
    for rule in relabelings or []:
        if rule.get("action", "replace") != "keep":
            continue
        value = rule.get("separator", ";").join(_meta_value(s, pod, container) for s in rule["sourceLabels"])
        if not re.fullmatch(rule.get("regex", "(.*)"), value):
            return False
    return True


def pod_monitor_targets(monitor: dict, all_pods: list[Pod]) -> list[Target]:
    name = f"PodMonitor {monitor['metadata']['name']}"
    targets = []
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        for pod in all_pods:
            if not (_in_namespaces(monitor, pod.namespace) and selector_matches(monitor["spec"]["selector"], pod.labels)):
                continue
            for container, ports in pod.containers.items():
                for port_name, (number, protocol) in ports.items():
                    wanted = endpoint.get("portNumber") == number or endpoint.get("port") == port_name
                    if wanted and _kept(endpoint.get("relabelings"), pod, container):
                        targets.append(Target(name, pod, container, number, protocol))
    return targets


def service_monitor_targets(monitor: dict, objects: list[dict], all_pods: list[Pod]) -> list[Target]:
    name = f"ServiceMonitor {monitor['metadata']['name']}"
    targets = []
    services = [o for o in objects if o["kind"] == "Service" and _in_namespaces(monitor, o["metadata"]["namespace"])
                and selector_matches(monitor["spec"]["selector"], o["metadata"].get("labels", {}))]
    for endpoint in monitor["spec"]["endpoints"]:
        for service in services:
            port = next((p for p in service["spec"].get("ports", []) if p.get("name") == endpoint.get("port")), None)
            if port is None or not service["spec"].get("selector"):
                continue
            target_port = port.get("targetPort", port["port"])
            for pod in all_pods:
                if pod.namespace != service["metadata"]["namespace"] or not selector_matches(
                        {"matchLabels": service["spec"]["selector"]}, pod.labels):
                    continue
                for container, ports in pod.containers.items():
                    for port_name, (number, protocol) in ports.items():
                        if target_port in (number, port_name):
                            targets.append(Target(name, pod, container, number, protocol))
    return targets
