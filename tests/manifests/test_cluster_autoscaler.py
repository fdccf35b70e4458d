"""Cluster Autoscaler: Magnum provider, per-cluster node groups and scale-down flags."""
from __future__ import annotations

import pytest
from platform_render import CLUSTERS, ROOT, app, containers, one, synced_apps

from tools.versions import pin


@pytest.fixture(params=[c for c in CLUSTERS if "cluster-autoscaler" in synced_apps(c)])
def env(request) -> str:
    """Only the clusters that run it (clusters/local has no node groups to resize)."""
    return request.param

EXPECTED = {
    "dev": {"--scale-down-unneeded-time": "5m", "--scale-down-utilization-threshold": "0.6",
            "--cluster-name": "mlops-dev"},
    "prod": {"--scale-down-unneeded-time": "15m", "--scale-down-utilization-threshold": "0.5",
             "--cluster-name": "mlops-prod"},
}


def autoscaler(env: str) -> dict:
    return one(app("cluster-autoscaler", env), "Deployment", "cluster-autoscaler", "cluster-autoscaler")


def flags(env: str) -> list[tuple[str, str]]:
    """The process's flags: the shared ones after the binary in `command`, then the cluster's `args`."""
    container = containers(autoscaler(env)["spec"]["template"]["spec"])["cluster-autoscaler"]
    binary, *shared = container["command"]
    assert binary == "./cluster-autoscaler"
    return [tuple(a.split("=", 1)) if "=" in a else (a, "") for a in shared + container.get("args", [])]


def single(env: str, name: str) -> str:
    values = [v for k, v in flags(env) if k == name]
    assert len(values) == 1, f"{name} given {len(values)} times in {env}"
    return values[0]


def node_groups(env: str) -> dict[str, tuple[int, int]]:
    groups = {}
    for key, value in flags(env):
        if key == "--nodes":
            low, high, name = value.split(":")
            groups[name] = (int(low), int(high))
    return groups


def test_magnum_provider_with_cloud_config_from_secret(env):
    assert single(env, "--cloud-provider") == "magnum"
    config_path = single(env, "--cloud-config")
    spec = autoscaler(env)["spec"]["template"]["spec"]
    mount = next(m for m in containers(spec)["cluster-autoscaler"]["volumeMounts"]
                 if config_path.startswith(m["mountPath"] + "/"))
    assert mount["readOnly"] is True
    secret = next(v for v in spec["volumes"] if v["name"] == mount["name"])["secret"]
    assert secret["secretName"] == "cluster-autoscaler-cloud-config"
    assert secret["items"] == [{"key": "cloud-config", "path": config_path.rsplit("/", 1)[1]}]


def test_per_cluster_scale_down_tuning(env):
    for flag, value in EXPECTED[env].items():
        assert single(env, flag) == value, flag
    assert single(env, "--expander") in {"least-waste", "random", "most-pods", "priority", "price"}
    assert single(env, "--skip-nodes-with-local-storage") == "false"


def test_node_group_bounds(env):
    groups = node_groups(env)
    assert groups, "no --nodes=min:max:group"
    for name, (low, high) in groups.items():
        assert 0 <= low <= high, name


def test_dev_is_cheaper_than_prod():
    dev, prod = node_groups("dev"), node_groups("prod")
    assert dev["default-worker"][0] < prod["default-worker"][0]
    assert sum(h for _, h in dev.values()) < sum(h for _, h in prod.values())
    assert float(single("dev", "--scale-down-utilization-threshold")) >= float(
        single("prod", "--scale-down-utilization-threshold"))


def test_image_minor_matches_the_kubernetes_target():
    target = pin("K8S_TARGET_VERSION")
    image = containers(autoscaler("prod")["spec"]["template"]["spec"])["cluster-autoscaler"]["image"]
    repository, tag = image.rsplit(":", 1)
    assert repository == "registry.k8s.io/autoscaling/cluster-autoscaler"
    assert tag.lstrip("v").split(".")[:2] == target.split(".")[:2], f"{tag} vs Kubernetes {target}"


def test_managed_autoscaler_warning_is_documented():
    text = (ROOT / "apps/cluster-autoscaler/base/deployment.yaml").read_text()
    assert "keep the NKS console's own node-group autoscaler" in text
