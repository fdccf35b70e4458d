"""Each Jenkinsfile stage runs in a pod that has what the stage needs (jenkins/README.md, "Agent pods").

The stage -> pod/container mapping is read from the simulated Jenkinsfile, the packages from the agent
Dockerfiles (following FROM), users, privileges, volumes and Secrets from the pod templates, and the
volumes' and Secrets' sources from apps/jenkins.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tools.gate.render import render

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "jenkins" / "agents"
REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"
DOCKERFILES = {f"{REGISTRY}/ci-agent": AGENTS / "ci-agent" / "Dockerfile",
               f"{REGISTRY}/e2e-agent": AGENTS / "e2e-agent" / "Dockerfile"}
KANIKO = "gcr.io/kaniko-project/executor"
TOOLCHAIN = {"python3", "python3-venv", "make", "git", "ca-certificates"}
JAVA = {"openjdk-17-jdk-headless", "maven"}  # Spark in the unit tests; Groovy (Maven) for the Jenkinsfile check
LOCAL_PLATFORM = {"postgresql-15", "postgresql-client-15", "chromium"}  # tools/localplatform/install-deps.sh
NODE = {"containerd", "runc", "containernetworking-plugins", "iptables", "conntrack", "iproute2"}
IMAGE_BUILDS = {"buildah", "mmdebstrap"}
GO_CACHES = {"GOCACHE", "GOMODCACHE", "UV_CACHE_DIR"}


@dataclass
class Need:
    """What one stage needs from the container its `make` steps run in."""

    packages: set[str]
    go: bool = True  # `make setup` builds the Go tools
    root: bool = False  # runs as uid 0
    privileged: bool = False
    caches: set[str] = field(default_factory=lambda: set(GO_CACHES))
    mounts: set[str] = field(default_factory=set)  # extra paths that must be on a persistent volume


NEEDS = {
    "Skip CI bot commits": Need(TOOLCHAIN),
    "Setup": Need(TOOLCHAIN | JAVA),
    "Lint": Need(TOOLCHAIN),
    "Static gate": Need(TOOLCHAIN),
    "Unit tests": Need(TOOLCHAIN | JAVA),
    "PR preview": Need(TOOLCHAIN),
    "End-to-end without a cluster": Need(TOOLCHAIN | JAVA | LOCAL_PLATFORM),
    "End-to-end": Need(TOOLCHAIN | JAVA | LOCAL_PLATFORM | NODE | IMAGE_BUILDS, root=True, privileged=True,
                       mounts={"/var/lib/containerd", "/var/lib/containers"}),
    "Build and push images": Need(TOOLCHAIN),
    "Bump overlays": Need(TOOLCHAIN),
}


def pod(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def container(pod_spec: dict, name: str) -> dict:
    by_name = {c["name"]: c for c in pod_spec["spec"]["containers"]}
    assert name in by_name, f"no container {name!r} (has {sorted(by_name)})"
    return by_name[name]


def resolved_dockerfile(path: Path) -> str:
    """The Dockerfile with `FROM ${ARG}` replaced by the ARG's default (what kaniko builds from)."""
    text = path.read_text()
    defaults = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    return re.sub(r"^FROM \$\{(\w+)\}", lambda m: f"FROM {defaults.get(m.group(1), m.group(0))}", text, flags=re.M)


def dockerfile_packages(path: Path) -> dict[str, str]:
    """Debian packages installed by the Dockerfile and its FROM chain (our images only): name -> version."""
    text = resolved_dockerfile(path)
    packages: dict[str, str] = {}
    base = re.search(r"^FROM (\S+?):(\S+)", text, re.M)
    if base and base.group(1) in DOCKERFILES:
        packages |= dockerfile_packages(DOCKERFILES[base.group(1)])
    joined = text.replace("\\\n", " ")
    for command in re.findall(r"apt-get install ([^&\n]*)", joined):
        for token in command.split():
            if token.startswith("-"):
                continue
            name, sep, version = token.partition("=")
            assert sep and version, f"{path}: package {name} is not pinned (name=version)"
            packages[name] = version
    return packages


@pytest.fixture(scope="module")
def placement(simulations) -> dict[str, tuple[str, str]]:
    """stage -> (pod file, container its `sh` steps run in), from simulating every scenario."""
    found: dict[str, tuple[str, str]] = {}
    for sim in simulations.values():
        for step in sim.steps:
            if step.kind != "sh" or step.stage == "post":
                continue
            pod_file = sim.stage_agents.get(step.stage, sim.agent_yaml)
            # `default` is the pipeline's defaultContainer; a stage pod's steps are recorded in its own.
            name = sim.agent_container if step.container == "default" else step.container
            container(pod(pod_file), name)
            if step.arg.startswith("make "):
                found[step.stage] = (pod_file, name)
    return found


def test_every_stage_is_described(placement, simulations):
    sim = simulations["main"]
    assert set(sim.stages) == set(NEEDS), "NEEDS (and jenkins/README.md) must list every stage"
    assert set(placement) == set(NEEDS), f"stages never simulated running make: {set(NEEDS) - set(placement)}"
    readme = (ROOT / "jenkins" / "README.md").read_text()
    section = readme.split("## Agent pods", 1)[1].split("\n## ", 1)[0]
    missing = [stage for stage in NEEDS if f"| {stage} |" not in section]
    assert not missing, f"jenkins/README.md, Agent pods: no row for {missing}"


@pytest.mark.parametrize("stage", list(NEEDS))
def test_stage_pod_has_what_the_stage_needs(placement, stage):
    need = NEEDS[stage]
    pod_file, name = placement[stage]
    spec = pod(pod_file)
    c = container(spec, name)
    repository, _, tag = c["image"].rpartition(":")
    assert repository in DOCKERFILES, f"{stage}: {pod_file} {name} runs {c['image']}, not one of our agent images"
    packages = dockerfile_packages(DOCKERFILES[repository])
    assert need.packages <= set(packages), f"{stage}: {c['image']} lacks {sorted(need.packages - set(packages))}"
    dockerfile = resolved_dockerfile(DOCKERFILES[repository])
    if need.go:
        assert re.search(r"^FROM (golang:\d+\.\d+\.\d+-bookworm|" + re.escape(REGISTRY) + r"/ci-agent:)", dockerfile, re.M)
    sc = c.get("securityContext", {})
    assert (sc.get("runAsUser") == 0) == need.root, f"{stage}: {name} must {'' if need.root else 'not '}run as root"
    assert bool(sc.get("privileged")) == need.privileged, f"{stage}: {name} privileged must be {need.privileged}"
    # Caches and image stores are on persistent volumes, so a warm build does not start from scratch.
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["spec"].get("volumes", [])
              if "persistentVolumeClaim" in v}
    env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
    for variable in need.caches:
        assert variable in env, f"{stage}: {name} sets no {variable}"
        assert any(env[variable].startswith(path + "/") and mounts[path]["name"] in claims for path in mounts), \
            f"{stage}: {variable}={env[variable]} is not on a persistent volume"
    for path in need.mounts:
        assert path in mounts and mounts[path]["name"] in claims, f"{stage}: {path} is not on a persistent volume"


def test_the_checker_notices_a_missing_package(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM golang:1.26.8-bookworm\nRUN apt-get install -y --no-install-recommends make=4.3-4.1 git\n")
    with pytest.raises(AssertionError, match="package git is not pinned"):
        dockerfile_packages(broken)


def test_every_debian_package_of_the_agent_images_is_pinned():
    for path in DOCKERFILES.values():
        packages = dockerfile_packages(path)
        assert packages and all(packages.values()), path
    # e2e-agent builds on the ci-agent tag the build pod runs, so both stages get the same toolchain.
    ci_image = container(pod("jenkins/agents/ci-pod.yaml"), "python")["image"]
    e2e_from = re.search(r"^FROM (\S+)", DOCKERFILES[f"{REGISTRY}/e2e-agent"].read_text(), re.M).group(1)
    assert e2e_from == ci_image


def test_kaniko_container_can_build_and_push(placement):
    spec = pod("jenkins/agents/ci-pod.yaml")
    kaniko = container(spec, "kaniko")
    assert kaniko["image"].startswith(KANIKO + ":") and kaniko["image"].endswith("-debug"), "needs the shell (debug)"
    assert kaniko["securityContext"]["runAsUser"] == 0, "kaniko unpacks image layers as root"
    mounts = {m["mountPath"]: m["name"] for m in kaniko["volumeMounts"]}
    secret_volumes = {v["name"]: v["secret"] for v in spec["spec"]["volumes"] if "secret" in v}
    assert mounts["/kaniko/.docker"] in secret_volumes, "registry credentials at kaniko's config path"
    assert {"key": ".dockerconfigjson", "path": "config.json"} in secret_volumes[mounts["/kaniko/.docker"]]["items"]
    assert "/cache" in mounts, "kaniko's default cache dir is on the cache volume"


def agent_pod_files() -> list[Path]:
    return sorted(AGENTS.glob("*-pod.yaml"))


def apps_jenkins() -> list[dict]:
    return render(ROOT / "apps" / "jenkins" / "overlays" / "prod")


@pytest.mark.parametrize("pod_file", agent_pod_files(), ids=lambda p: p.name)
def test_everything_an_agent_pod_references_is_created_by_apps_jenkins(pod_file):
    """Secrets (by an ExternalSecret), claims and the service account exist in the cloud's namespace."""
    casc = yaml.safe_load((ROOT / "jenkins" / "casc" / "jenkins.yaml").read_text())
    namespace = casc["jenkins"]["clouds"][0]["kubernetes"]["namespace"]
    objects = [o for o in apps_jenkins() if o["metadata"].get("namespace") == namespace]
    spec = yaml.safe_load(pod_file.read_text())["spec"]
    names = {kind: {o["metadata"]["name"] for o in objects if o["kind"] == kind}
             for kind in ("ServiceAccount", "PersistentVolumeClaim")}
    secrets = {o["spec"]["target"]["name"] for o in objects if o["kind"] == "ExternalSecret"}
    assert spec["serviceAccountName"] in names["ServiceAccount"]
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            assert volume["secret"]["secretName"] in secrets, f"{pod_file.name}: no ExternalSecret creates " \
                f"{volume['secret']['secretName']} in {namespace}"
        elif "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] in names["PersistentVolumeClaim"]
        else:
            pytest.fail(f"{pod_file.name}: volume {volume['name']} is neither a Secret nor a claim of apps/jenkins")


def test_make_lists_every_e2e_suite_as_with_or_without_a_cluster():
    out = subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "e2e-suites"],
                         capture_output=True, text=True, check=True).stdout
    suites = {line.split(":")[0]: set(line.split(":", 1)[1].split()) for line in out.splitlines()}
    assert suites["all"], out
    assert suites["no-cluster"] | suites["cluster"] == suites["all"], out
    assert not suites["no-cluster"] & suites["cluster"], out
