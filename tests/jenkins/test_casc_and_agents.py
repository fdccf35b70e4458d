"""JCasC and the agent pod: schema-valid, pinned, credentials by id only, consistent with the Jenkinsfile."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
JENKINS = ROOT / "jenkins"
CASC = yaml.safe_load((JENKINS / "casc" / "jenkins.yaml").read_text())
K8S_VERSION = "1.34"


def agent_pods() -> list[Path]:
    return sorted((JENKINS / "agents").glob("*.yaml"))


# Containers that run as root, each with why; the pod file's header must say it too.
ROOT_CONTAINERS = {
    ("ci-pod.yaml", "kaniko"): "unpacks image layers into its own root filesystem",
    ("e2e-pod.yaml", "e2e"): "runs containerd, runc, CNI and iptables of a one-node Kubernetes (privileged)",
    ("e2e-pod.yaml", "jnlp"): "reads and removes the root-owned build files of the e2e container",
}
PRIVILEGED_CONTAINERS = {("e2e-pod.yaml", "e2e")}


@pytest.mark.parametrize("pod_file", agent_pods(), ids=lambda p: p.name)
def test_agent_pod_is_schema_valid(pod_file):
    for doc in yaml.safe_load_all(pod_file.read_text()):
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{pod_file}: {doc['kind']} {doc['metadata'].get('name', '')}: {exc.message}")


@pytest.mark.parametrize("pod_file", agent_pods(), ids=lambda p: p.name)
def test_agent_containers_are_pinned_and_bounded(pod_file):
    pod = yaml.safe_load(pod_file.read_text())
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "mlops-platform" and labels["owner"]
    assert pod["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for c in pod["spec"]["containers"]:
        where = f"{pod_file.name}: container {c['name']}"
        image = c["image"]
        pinned = re.search(r":[A-Za-z0-9_][A-Za-z0-9_.-]*$|@sha256:[a-f0-9]{64}$", image.split("/")[-1])
        assert pinned, f"{where}: unpinned {image}"
        assert not image.endswith(":latest"), where
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where}: needs cpu+memory {kind}"
        sc = c["securityContext"]
        key = (pod_file.name, c["name"])
        assert (sc.get("runAsUser") == 0) == (key in ROOT_CONTAINERS), f"{where}: root only where listed, with a reason"
        if sc.get("privileged"):
            assert key in PRIVILEGED_CONTAINERS, f"{where}: privileged without a listed reason"
            assert "privileged" in pod_file.read_text().split("apiVersion:")[0], f"{where}: the header must say why"
            continue
        assert sc["allowPrivilegeEscalation"] is False and "ALL" in sc["capabilities"]["drop"], where
        if key not in ROOT_CONTAINERS:
            assert sc.get("runAsNonRoot") is True, where


def test_jenkinsfile_agent_and_containers_exist():
    jenkinsfile = (ROOT / "Jenkinsfile").read_text()
    pod_paths = re.findall(r"yamlFile '([^']+)'", jenkinsfile)
    assert pod_paths[:2] == ["jenkins/agents/ci-pod.yaml", "jenkins/agents/e2e-pod.yaml"], pod_paths
    names = {c["name"] for path in pod_paths for c in yaml.safe_load((ROOT / path).read_text())["spec"]["containers"]}
    used = set(re.findall(r"container\('([^']+)'\)", jenkinsfile)) | set(re.findall(r"defaultContainer '([^']+)'", jenkinsfile))
    assert used <= names, f"Jenkinsfile uses containers {sorted(used - names)} that {pod_paths} do not define"


def casc_credentials() -> dict[str, dict]:
    found = {}
    for domain in CASC["credentials"]["system"]["domainCredentials"]:
        for entry in domain["credentials"]:
            (kind, body), = entry.items()
            found[body["id"]] = {"kind": kind, **body}
    return found


def test_every_credential_the_jenkinsfile_uses_is_declared_by_id():
    jenkinsfile = (ROOT / "Jenkinsfile").read_text()
    used = set(re.findall(r"(?:credentialsId|tokenCredentialId):\s*'([^']+)'", jenkinsfile))
    assert used, "the Jenkinsfile should use credentials by id"
    assert used <= set(casc_credentials()), f"undeclared credential ids: {sorted(used - set(casc_credentials()))}"


def test_no_secret_value_is_in_git():
    secret_fields = {"secret", "password", "privateKey", "clientSecret", "appID", "username", "clientID"}
    for cred_id, body in casc_credentials().items():
        for key, value in body.items():
            if key in secret_fields:
                assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", str(value)), (
                    f"jenkins/casc/jenkins.yaml: credential {cred_id}: {key} must be a ${{...}} placeholder")
    realm = CASC["jenkins"]["securityRealm"]["github"]
    assert realm["clientSecret"].startswith("${")
    # The placeholders are filled from an ExternalSecret, never a plaintext Secret.
    docs = list(yaml.safe_load_all((ROOT / "apps" / "jenkins" / "base" / "external-secrets.yaml").read_text()))
    assert {d["kind"] for d in docs} == {"ExternalSecret"}
    provided = {item["secretKey"] for d in docs if d["metadata"]["name"] == "jenkins-casc" for item in d["spec"]["data"]}
    placeholders = set(re.findall(r"\$\{([A-Z0-9_]+)\}", (JENKINS / "casc" / "jenkins.yaml").read_text()))
    assert placeholders <= provided, f"placeholders without a source: {sorted(placeholders - provided)}"


def test_kubernetes_cloud_and_webhook_are_configured():
    cloud = CASC["jenkins"]["clouds"][0]["kubernetes"]
    assert cloud["namespace"] == "jenkins-agents"
    assert "ci-pod.yaml" in cloud["templates"][0]["yaml"]
    github = CASC["unclassified"]["gitHubPluginConfig"]
    assert github["hookSecretConfigs"][0]["credentialsId"] in casc_credentials()
    assert CASC["jobs"][0]["file"].endswith("jobs.groovy")
