"""The rendered monitoring app, per cluster: the wiring between its own objects (selectors, secret
keys, mounted ConfigMaps, versions, HA). The platform contract (labels, security context, pinned
images and registries, no plaintext Secret, Pod Security and default deny) is the gate's Rego
policies with their bad-input corpus, not repeated here; cross-app scrape wiring is
tests/manifests/test_scrape_wiring.py."""
from __future__ import annotations

import json
import re

import pytest
import yaml
from monitoring_support import ROOT, RULES_DIR, versions

from tools.clusters import names
from tools.gate.appset import generated_applications
from tools.gate.render import render
from tools.gate.units import app_unit, cluster_applications, render_units

# The clusters that run monitoring (clusters/local leaves it out: `needs: cloud-only`).
CLUSTERS = [c for c in names() if any(a["metadata"]["name"] == "monitoring" for a in cluster_applications(c, ROOT))]
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet"}


def pod_specs(objects):
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            yield obj, obj["spec"]["template"]["metadata"], obj["spec"]["template"]["spec"]


def all_images(objects) -> list[str]:
    images = [c["image"] for _, _, spec in pod_specs(objects)
              for c in spec.get("containers", []) + spec.get("initContainers", [])]
    images += [o["spec"]["image"] for o in objects if o["kind"] in {"Prometheus", "Alertmanager"}]
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "prometheus-operator":
            args = obj["spec"]["template"]["spec"]["containers"][0]["args"]
            images += [a.split("=", 1)[1] for a in args if a.startswith("--prometheus-config-reloader=")]
    return images


def test_images_match_the_pinned_tool_and_module_versions(render_overlay):
    pins = versions()
    objects = render_overlay("prod")
    images = all_images(objects)
    operator = pins["PROMETHEUS_OPERATOR_MODULE_VERSION"]
    assert f"quay.io/prometheus-operator/prometheus-operator:{operator}" in images
    assert f"quay.io/prometheus-operator/prometheus-config-reloader:{operator}" in images
    assert f"quay.io/prometheus/statsd-exporter:{pins['STATSD_EXPORTER_VERSION']}" in images
    # promtool is built from module v0.3MM.P, the Go version of Prometheus v3.MM.P: same release.
    major_minor, patch = re.fullmatch(r"v0\.3(\d\d)\.(\d+)", pins["PROMETHEUS_VERSION"]).groups()
    prometheus = next(o for o in objects if o["kind"] == "Prometheus")
    assert prometheus["spec"]["version"] == f"v3.{int(major_minor)}.{patch}"
    assert prometheus["spec"]["image"].endswith(":" + prometheus["spec"]["version"])


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_referenced_secret_key_is_provided(render_overlay, cluster):
    objects = render_overlay(cluster)
    # The `alerting` Secret is declared once for the platform, in apps/external-secrets.
    external = render(app_unit(cluster, "external-secrets", ROOT))
    provided = {(o["spec"]["target"]["name"], d["secretKey"])
                for o in objects + external if o["kind"] == "ExternalSecret"
                and o["metadata"]["namespace"] == "monitoring" for d in o["spec"]["data"]}
    referenced = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"name", "key"}:
                referenced.add((node["name"], node["key"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for obj in objects:
        if obj["kind"] == "AlertmanagerConfig":
            walk(obj["spec"]["receivers"])
    targets = {name for name, _ in provided}
    for obj, _, spec in pod_specs(objects):
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in targets, f"{obj['metadata']['name']}: {volume}"
    assert referenced, "expected receivers to reference the alerting secret"
    assert referenced <= provided, f"referenced but not provided by an ExternalSecret in monitoring: {referenced - provided}"
    assert {("alerting", "slack-webhook-url"), ("alerting", "dooray-webhook-url"),
            ("alerting", "smtp-password")} <= referenced


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_prometheus_selects_every_monitor_and_rule_we_ship(render_overlay, cluster):
    objects = render_overlay(cluster)
    prometheus = next(o for o in objects if o["kind"] == "Prometheus")
    selectors = {"ServiceMonitor": "serviceMonitorSelector", "PodMonitor": "podMonitorSelector",
                 "PrometheusRule": "ruleSelector"}
    for obj in objects:
        if obj["kind"] in selectors:
            wanted = prometheus["spec"][selectors[obj["kind"]]]["matchLabels"]
            assert wanted.items() <= obj["metadata"]["labels"].items(), f"{obj['kind']}/{obj['metadata']['name']}"
    assert prometheus["spec"]["externalLabels"]["cluster"] == cluster


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_mounted_configmaps_exist(render_overlay, cluster):
    objects = render_overlay(cluster)
    configmaps = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "ConfigMap"}
    for obj, _, spec in pod_specs(objects):
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert (obj["metadata"]["namespace"], volume["configMap"]["name"]) in configmaps, volume


def test_prod_is_highly_available_and_keeps_more_history(render_overlay):
    def spec(cluster, kind):
        return next(o for o in render_overlay(cluster) if o["kind"] == kind)["spec"]
    assert spec("prod", "Prometheus")["replicas"] == 2
    assert spec("prod", "Alertmanager")["replicas"] == 2
    assert spec("dev", "Prometheus")["replicas"] == 1
    assert int(spec("prod", "Prometheus")["retention"].rstrip("d")) > int(spec("dev", "Prometheus")["retention"].rstrip("d"))


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_generated_configmaps_fit_client_side_apply(render_overlay, cluster):
    """Dashboards grow: kubectl/Argo CD client-side apply stores the object in a 256 KiB annotation."""
    for obj in render_overlay(cluster):
        if obj["kind"] == "ConfigMap":
            size = len(json.dumps(obj))
            assert size < 256 * 1024, f"ConfigMap {obj['metadata']['name']} is {size} bytes"


def test_alert_routing_covers_every_severity_and_names_real_alerts(render_overlay):
    config = next(o for o in render_overlay("prod") if o["kind"] == "AlertmanagerConfig")["spec"]
    receivers = {r["name"]: r for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert {r["receiver"] for r in routes} <= set(receivers)
    critical = next(r for r in config["route"]["routes"]
                    if {"name": "severity", "value": "critical"} in r["matchers"])
    assert {"emailConfigs", "slackConfigs", "webhookConfigs"} <= set(receivers[critical["receiver"]])
    assert "slackConfigs" in receivers[config["route"]["receiver"]]  # warnings

    rules = [r for p in RULES_DIR.glob("*.yaml") for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]]
    assert {r["labels"]["severity"] for r in rules if "alert" in r} == {"warning", "critical"}
    alert_names = {r["alert"] for r in rules if "alert" in r}
    for inhibit in config.get("inhibitRules", []):
        for matcher in inhibit["sourceMatch"] + inhibit["targetMatch"]:
            if matcher["name"] == "alertname":
                assert matcher["value"] in alert_names, matcher


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_no_object_is_also_owned_by_another_app(render_overlay, cluster):
    """Two Argo CD Applications managing one object fight over it; each object has one owner."""
    def key(o):
        return (o["apiVersion"].split("/")[0], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
    ours = {key(o) for o in render_overlay(cluster)}
    for unit in render_units(cluster, ROOT)[1:]:
        if unit == app_unit(cluster, "monitoring", ROOT):
            continue
        shared = ours & {key(o) for o in render(unit)}
        assert shared == set(), f"{unit.relative_to(ROOT)} also renders {sorted(shared)}"


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_argocd_project_admits_everything_the_app_renders(render_overlay, cluster):
    """Argo CD refuses to sync an object whose kind or namespace its AppProject does not allow."""
    entry = render(ROOT / "clusters" / cluster)
    rendered = entry + generated_applications(entry, ROOT)
    application = next(o for o in rendered if o["kind"] == "Application" and o["metadata"]["name"] == "monitoring")
    project = next(o for o in rendered if o["kind"] == "AppProject"
                   and o["metadata"]["name"] == application["spec"]["project"])["spec"]
    assert {s["repoURL"] for s in application["spec"]["sources"]} <= set(project["sourceRepos"])
    namespaced = {(k["group"], k["kind"]) for k in project["namespaceResourceWhitelist"]}
    cluster_scoped = {(k["group"], k["kind"]) for k in project["clusterResourceWhitelist"]}
    destinations = {d["namespace"] for d in project["destinations"]}
    refused = []
    for obj in render_overlay(cluster):
        group = obj["apiVersion"].rpartition("/")[0]
        namespace = obj["metadata"].get("namespace")
        allowed = (group, obj["kind"]) in (namespaced if namespace else cluster_scoped)
        if not allowed or (namespace or "") not in destinations:
            refused.append(f"{obj['kind']}/{obj['metadata']['name']} in {namespace!r}")
    assert refused == []
