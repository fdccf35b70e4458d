"""The container security context is written once (apps/components/container-defaults) and every
container the clusters run has it: each workload's containers and init containers, the containers
the Prometheus operator merges into its pods, and the two templates read as files at run time
(Airflow's task pod template, the SparkApplication etl-template), which carry a copy checked here."""
from __future__ import annotations

import pytest
import yaml
from platform_render import ROOT, app, render, synced_apps, task_pod_template

COMPONENT = ROOT / "apps" / "components" / "container-defaults"
DEFAULTS = yaml.safe_load((COMPONENT / "defaults.yaml").read_text())["securityContext"]
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# Read as files by Airflow (the task pod template) and by the DAGs (the etl-template): kustomize cannot
# reach into them, so they carry the defaults themselves.
FILE_TEMPLATES = {"apps/airflow/base/config/pod_template_file.yaml", "apps/airflow/base/spark/etl-template.yaml"}


def containers_of(obj: dict) -> list[tuple[str, dict]]:
    spec = obj.get("spec") or {}
    if obj["kind"] in POD_TEMPLATE_KINDS:
        pod = spec["template"]["spec"]
    elif obj["kind"] == "CronJob":
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    elif obj["kind"] in {"Prometheus", "Alertmanager"}:
        pod = spec
    else:
        return []
    return [(c["name"], c) for c in pod.get("containers", []) + pod.get("initContainers", [])]


def cluster_containers(env: str) -> list[tuple[str, dict]]:
    found = []
    for name in synced_apps(env):
        for obj in app(name, env):
            found += [(f"{obj['kind']} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}:{c}", spec)
                      for c, spec in containers_of(obj)]
    return found


def lacks_defaults(security_context: dict | None) -> dict:
    sc = security_context or {}
    return {k: sc.get(k) for k, v in DEFAULTS.items() if sc.get(k) != v}


def test_the_defaults_are_the_restricted_container_settings():
    assert DEFAULTS == {"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def test_every_container_of_every_workload_has_the_defaults(env):
    found = cluster_containers(env)
    assert len(found) > 10, "no containers found: is the render empty?"
    missing = {where: lacks_defaults(c.get("securityContext")) for where, c in found}
    assert {k: v for k, v in missing.items() if v} == {}


def test_containers_keep_their_own_extra_fields(env):
    """The defaults are set whole and a patch adds git-sync's own user on top."""
    found = dict(cluster_containers(env))
    git_sync = [c for where, c in found.items() if where.endswith(":git-sync")]
    assert git_sync and all(c["securityContext"]["runAsUser"] == 65533 for c in git_sync)


def test_the_file_templates_carry_exactly_the_defaults(env):
    pod = task_pod_template(env)["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        assert lacks_defaults(container.get("securityContext")) == {}, container["name"]
    (template,) = [o for o in app("airflow", env) if o["kind"] == "ScheduledSparkApplication"]
    for role in ("driver", "executor"):
        assert lacks_defaults(template["spec"]["template"][role].get("securityContext")) == {}, role


def test_the_container_security_context_is_written_once():
    """Only the component's defaults.yaml (and the two templates read as files) say it."""
    files = [*ROOT.glob("apps/**/*.yaml"), *ROOT.glob("clusters/**/*.yaml")]
    writers = sorted(str(p.relative_to(ROOT)) for p in files if "allowPrivilegeEscalation" in p.read_text())
    assert writers == sorted({str((COMPONENT / "defaults.yaml").relative_to(ROOT)), *FILE_TEMPLATES})


BASES = sorted(str(p.parent.relative_to(ROOT)) for p in ROOT.glob("apps/*/base/kustomization.yaml"))


@pytest.mark.parametrize("base", BASES)
def test_every_base_with_workloads_applies_the_component(base):
    kustomization = yaml.safe_load((ROOT / base / "kustomization.yaml").read_text())
    components = [str((ROOT / base / c).resolve().relative_to(ROOT)) for c in kustomization.get("components") or []]
    has_workloads = any(containers_of(o) for o in render(base))
    assert has_workloads == ("apps/components/container-defaults" in components), base
