"""Render clusters and app overlays once per test session and look objects up (helm-tests style).

Rendering goes through the static gate's `tools.gate.render.render` (the pinned kustomize in
.tools/bin, exactly what Argo CD builds); if that tool is not built yet, kubectl's embedded
kustomize from the venv stands in so the tests still say something useful.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import yaml

from tools import clusters as cluster_discovery
from tools.gate import appset, units
from tools.gate.appset import merge

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = cluster_discovery.names(ROOT)
# Apps this suite owns (apps/monitoring has its own tests).
PLATFORM_APPS = ["namespaces", "argocd", "external-secrets", "airflow", "spark-operator",
                 "spark-standalone", "cluster-autoscaler"]


def _render_with_kubectl(path: Path) -> list[dict]:
    kubectl = shutil.which("kubectl", path=str(ROOT / ".venv" / "bin")) or "kubectl"
    proc = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize build {path} failed:\n{proc.stderr}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render_dir(path: Path) -> list[dict]:
    try:
        from tools.gate import paths
        from tools.gate.render import render
        paths.tool("kustomize")
    except Exception:  # gate not built yet: same kustomize semantics, other binary
        return _render_with_kubectl(path)
    return render(path)


@functools.cache
def render(relpath: str) -> tuple[dict, ...]:
    """Objects of `kustomize build <repo>/<relpath>` (cached; treat as read-only)."""
    return tuple(render_dir(ROOT / relpath))


def cluster_entry(env: str) -> tuple[dict, ...]:
    """What `kustomize build clusters/<env>` renders: AppProjects, ApplicationSets, the root."""
    return render(f"clusters/{env}")


@functools.cache
def cluster(env: str) -> tuple[dict, ...]:
    """What Argo CD ends up with for clusters/<env>: the entry plus the Applications its
    ApplicationSets generate (tools/gate/appset.py)."""
    objects = cluster_entry(env)
    return objects + tuple(appset.generated_applications(list(objects), ROOT))


def overlay(env: str) -> str:
    return cluster_discovery.overlay(env, ROOT)


@functools.cache
def _unit_of(name: str, env: str) -> str:
    return str(units.app_unit(env, name, ROOT).relative_to(ROOT))


def app(name: str, env: str) -> tuple[dict, ...]:
    """What the cluster's Application for apps/<name> renders (its overlay, plus the cluster's
    kustomize components where it has any, as the gate renders it); nothing when the cluster has no
    Application for it (clusters/local leaves the Cluster Autoscaler out)."""
    if name not in synced_apps(env) and name in {p.parent.name for p in ROOT.glob("apps/*/application.yaml")}:
        return ()
    return render(_unit_of(name, env))


def synced_apps(env: str) -> list[str]:
    """Names of the apps/<app> folders the cluster has an Application for."""
    return sorted(a["metadata"]["name"] for a in find(cluster(env), "Application")
                  if platform_source(a) and platform_source(a)["path"].startswith("apps/"))


def chart_values(application: dict) -> dict:
    """The Helm values of an Application's chart source: its valueFiles from this checkout, merged
    in order (what Argo CD passes to helm), skipping missing files when it ignores them."""
    chart = next(s for s in application["spec"]["sources"] if s.get("chart"))
    helm = chart.get("helm", {})
    refs = {f"${s['ref']}": ROOT for s in application["spec"]["sources"] if s.get("ref")}
    values: dict = {}
    for entry in helm.get("valueFiles", []):
        ref, _, rel = entry.partition("/")
        path = refs[ref] / rel
        if not path.is_file() and helm.get("ignoreMissingValueFiles"):
            continue
        values = merge(values, yaml.safe_load(path.read_text()) or {})
    return merge(values, helm.get("valuesObject", {}))


def find(objects, kind: str, name: str | None = None, namespace: str | None = None) -> list[dict]:
    out = []
    for obj in objects:
        meta = obj.get("metadata", {})
        if obj.get("kind") != kind:
            continue
        if name is not None and meta.get("name") != name:
            continue
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        out.append(obj)
    return out


def one(objects, kind: str, name: str, namespace: str | None = None) -> dict:
    found = find(objects, kind, name, namespace)
    assert len(found) == 1, f"expected exactly one {kind} {namespace or ''}/{name}, found {len(found)}"
    return found[0]


def containers(pod_spec: dict, init: bool = False) -> dict[str, dict]:
    key = "initContainers" if init else "containers"
    return {c["name"]: c for c in pod_spec.get(key, [])}


def env_map(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def configmap_data(objects, name: str, namespace: str) -> dict[str, str]:
    return one(objects, "ConfigMap", name, namespace).get("data", {})


def task_pod_template(env: str) -> dict:
    data = configmap_data(app("airflow", env), "airflow-pod-template", "airflow")
    assert list(data) == ["pod_template_file.yaml"], data.keys()
    return yaml.safe_load(data["pod_template_file.yaml"])


def scheduler_task_pod_template(env: str, workdir: Path) -> dict:
    """The task pod template as the scheduler hands it to the KubernetesExecutor: the scheduler's
    start script run in bash on the rendered ConfigMaps, with `exec airflow scheduler` swapped for
    printing the template file it points the executor at."""
    objects = app("airflow", env)
    scheduler = next(o for o in find(objects, "Deployment") if o["metadata"]["name"] == "airflow-scheduler")
    args = containers(scheduler["spec"]["template"]["spec"])["airflow"]["args"]
    assert args[:2] == ["bash", "-c"] and "exec airflow scheduler" in args[2]
    script = args[2].replace("exec airflow scheduler", 'cat "$AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE"')
    source = workdir / "configmap" / "pod_template_file.yaml"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(configmap_data(objects, "airflow-pod-template", "airflow")["pod_template_file.yaml"])
    images = configmap_data(objects, "airflow-job-images", "airflow")
    environment = {"PATH": "/usr/bin:/bin", "TMPDIR": str(workdir / "tmp"),
                   "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(source),
                   "AIRFLOW_WORKER_IMAGE": images["AIRFLOW_WORKER_IMAGE"], "GIT_SYNC_IMAGE": images["GIT_SYNC_IMAGE"]}
    out = subprocess.run(["bash", "-c", script], env=environment, capture_output=True, text=True, check=True)
    return yaml.safe_load(out.stdout)


def platform_source(application: dict) -> dict | None:
    """The source of an Application that points into this repository (named `platform`)."""
    for source in application["spec"].get("sources", []):
        if source.get("name") == "platform":
            return source
    return None
