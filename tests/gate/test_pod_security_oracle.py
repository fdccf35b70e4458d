"""Pod Security parity: the Rego rules against Kubernetes' own Pod Security admission code
(tools/psa-oracle, k8s.io/pod-security-admission at the API server's version).

The oracle is trusted only as far as these tests show it reads our objects: every kind that
carries a pod maps to pods, namespace labels pick the level, and the gate fails (naming file,
object and controls) the moment the Rego rules and the oracle disagree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.gate import oracle, paths
from tools.gate.__main__ import main
from tools.gate.embedded import embedded_pods
from tools.gate.policy import PodSecurity
from tools.gate.render import render_with_sources

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIG = FIXTURES / "policy-config.yaml"
CASES = sorted(p for p in (FIXTURES / "bad").iterdir() if (p / "expect.yaml").is_file())


def run_oracle(objects: list[dict]) -> list[dict]:
    proc = subprocess.run([paths.tool("psa-oracle")], input=json.dumps(objects), capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)["results"]


def oracle_checks() -> dict[str, str]:
    proc = subprocess.run([paths.tool("psa-oracle"), "--checks"], capture_output=True, text=True, check=True)
    return {c["id"]: c["level"] for c in json.loads(proc.stdout)}


def opa_value(query: str):
    cmd = [paths.tool("opa"), "eval", "--format", "json"]
    for f in sorted(paths.POLICY_DIR.glob("*.rego")):
        cmd += ["--data", str(f)]
    proc = subprocess.run(cmd + [query], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["result"][0]["expressions"][0]["value"]


def namespace(name: str, level: str | None, version: str | None = None) -> dict:
    labels = {}
    if level is not None:
        labels["pod-security.kubernetes.io/enforce"] = level
    if version is not None:
        labels["pod-security.kubernetes.io/enforce-version"] = version
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


RESTRICTED_CONTAINER = {
    "name": "app", "image": "example/app:1",
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
}


def pod_spec(**extra) -> dict:
    return {"containers": [RESTRICTED_CONTAINER], **extra}


def workload(kind: str, spec: dict, ns: str = "apps") -> dict:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": spec}
    body = {
        "Pod": spec,
        "Deployment": {"template": template},
        "StatefulSet": {"template": template},
        "DaemonSet": {"template": template},
        "ReplicaSet": {"template": template},
        "Job": {"template": template},
        "CronJob": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}},
    }[kind]
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": kind.lower(), "namespace": ns}, "spec": body}


def test_the_rego_rules_implement_every_check_of_the_pinned_module():
    checks = oracle_checks()
    assert len(checks) >= 18  # baseline and restricted of policy version v1.34
    rego = {c: "baseline" for c in opa_value("data.platform.pss_baseline_checks")}
    rego |= {c: "restricted" for c in opa_value("data.platform.pss_restricted_checks")}
    assert rego == checks


def test_the_oracle_is_built_from_the_pinned_staging_module():
    versions = paths.read_versions()
    expected = "v0." + versions["K8S_SERVER_VERSION"].removeprefix("v1.")
    results_doc = subprocess.run([paths.tool("psa-oracle")], input="[]", capture_output=True, text=True, check=True)
    assert json.loads(results_doc.stdout)["psaModule"] == f"k8s.io/pod-security-admission@{expected}"
    go_mod = (paths.ROOT / "tools" / "psa-oracle" / "go.mod").read_text()
    assert f"k8s.io/pod-security-admission {expected}" in go_mod


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"])
def test_every_workload_kind_is_evaluated_as_a_pod(kind):
    results = run_oracle([namespace("apps", "restricted"), workload(kind, pod_spec(hostNetwork=True))])
    assert len(results) == 1, results
    assert results[0]["kind"] == kind and results[0]["level"] == "restricted"
    assert [c["id"] for c in results[0]["checks"]] == ["hostNamespaces"]


def test_spark_driver_and_executor_are_pods_with_their_security_contexts():
    app = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
        "metadata": {"name": "etl", "namespace": "apps"},
        "spec": {
            "volumes": [{"name": "scratch", "hostPath": {"path": "/mnt"}},
                        {"name": "unused", "nfs": {"server": "x", "path": "/"}}],
            "driver": {"podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                       "securityContext": RESTRICTED_CONTAINER["securityContext"],
                       "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}]},
            "executor": {"hostNetwork": True},
        },
    }
    scheduled = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
                 "metadata": {"name": "nightly", "namespace": "apps"},
                 "spec": {"schedule": "@daily", "template": app["spec"]}}
    results = run_oracle([namespace("apps", "restricted"), app, scheduled])
    by_pod = {(r["name"], r["pod"]): {c["id"] for c in r["checks"]} for r in results}
    for name in ("etl", "nightly"):
        # the driver mounts only the hostPath volume (the unused nfs volume is not on its pod)
        assert by_pod[(name, "driver")] == {"restrictedVolumes"}
        # the executor sets nothing: every restricted container field is missing, and hostNetwork
        assert by_pod[(name, "executor")] == {"hostNamespaces", "allowPrivilegeEscalation", "runAsNonRoot",
                                              "seccompProfile_restricted", "capabilities_restricted"}


@pytest.mark.parametrize("ns_objects, level, failed", [
    ([namespace("apps", "privileged")], "privileged", set()),
    ([namespace("apps", "baseline")], "baseline", {"hostPathVolumes"}),
    # restricted replaces the baseline hostPath check with its volume-type check
    ([namespace("apps", "restricted")], "restricted", {"restrictedVolumes"}),
    # not rendered, unlabelled, or an invalid label: the strictest level (the admission plugin
    # also fails closed on an invalid label)
    ([], "restricted", {"restrictedVolumes"}),
    ([namespace("apps", None)], "restricted", {"restrictedVolumes"}),
    ([namespace("apps", "strict")], "restricted", {"restrictedVolumes"}),
    ([namespace("apps", "baseline", "v1.notaversion")], "restricted", {"restrictedVolumes"}),
])
def test_the_namespace_label_picks_the_level(ns_objects, level, failed):
    spec = pod_spec(volumes=[{"name": "host", "hostPath": {"path": "/var/log"}}])
    results = run_oracle([*ns_objects, workload("Deployment", spec)])
    assert results[0]["level"] == level
    assert {c["id"] for c in results[0]["checks"]} == failed


def test_every_pod_security_control_fails_in_some_corpus_case():
    failed: set[str] = set()
    for case in CASES:
        try:
            rendered = render_with_sources(case)
        except Exception:  # noqa: BLE001 - cases that break kustomize have no pods
            continue
        objects = [r.obj for item in rendered for r in (item, *embedded_pods(item))]
        failed |= {c["id"] for r in run_oracle(objects) for c in r.get("checks") or []}
    assert set(oracle_checks()) - failed == set()


def broken_policies(tmp_path: Path, monkeypatch, old: str, new: str) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(paths.POLICY_DIR, copy)
    rego = copy / "podsecurity.rego"
    text = rego.read_text()
    assert old in text
    rego.write_text(text.replace(old, new))
    monkeypatch.setattr(paths, "POLICY_DIR", copy)


def test_the_gate_fails_when_rego_misses_what_kubernetes_forbids(tmp_path, monkeypatch, capsys):
    # a Rego rule that forgets init containers (here: the host port check looks at containers only)
    broken_policies(tmp_path, monkeypatch,
                    'some c in pod_containers(p.spec)\n\tsome port in',
                    'some c in object.get(p.spec, "containers", [])\n\tsome port in')
    case = tmp_path / "case"
    case.mkdir()
    (case / "kustomization.yaml").write_text(
        f"resources:\n- {os.path.relpath(FIXTURES / 'good-app', case)}\npatches:\n- path: patch.yaml\n")
    (case / "patch.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"initContainers": [{
            **RESTRICTED_CONTAINER, "name": "warmup",
            "image": "mlops-kr1-registry.container.nhncloud.com/mlops-platform/web:1.4.2",
            "securityContext": {**RESTRICTED_CONTAINER["securityContext"], "readOnlyRootFilesystem": True},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}},
            "ports": [{"containerPort": 9000, "hostPort": 9000}]}]}}}}))
    code = main(["--path", str(case), "--cluster", "fixture", "--config", str(CONFIG), "--show-parity"])
    out = capsys.readouterr().out
    assert code == 1, out
    shown = [line for line in out.splitlines() if line.startswith("parity [fixture] ")]
    assert any("Deployment demo/web at restricted: DISAGREE (oracle fails: hostPorts)" in line for line in shown), out
    assert sum(": agree " in line for line in shown) == len(shown) - 1
    parity = [line for line in out.splitlines() if ": pss-oracle-parity: " in line]
    assert parity, out
    assert "tests/fixtures/good-app/deployment.yaml: Deployment demo/web: pss-oracle-parity" in parity[0]
    assert "only the oracle fails ['hostPorts']" in parity[0] and "hostPort 9000" in parity[0]
    assert "1 disagree" in out


def test_the_gate_fails_when_rego_forbids_what_kubernetes_admits(tmp_path, monkeypatch, capsys):
    broken_policies(tmp_path, monkeypatch, '"net.ipv4.tcp_syncookies",', "")
    code = main(["--path", str(FIXTURES / "bad" / "unsafe-sysctl"), "--cluster", "fixture", "--config", str(CONFIG)])
    out = capsys.readouterr().out
    assert code == 1 and "pss-oracle-parity" not in out, out  # kernel.msgmax: both sides still agree
    case = tmp_path / "safe-sysctl"
    shutil.copytree(FIXTURES / "bad" / "unsafe-sysctl", case)
    patch = case / "patch.yaml"
    patch.write_text(patch.read_text().replace("kernel.msgmax", "net.ipv4.tcp_syncookies").replace('"65536"', '"1"'))
    (case / "kustomization.yaml").write_text(
        (case / "kustomization.yaml").read_text().replace("../../good-app", os.path.relpath(FIXTURES / "good-app", case)))
    code = main(["--path", str(case), "--cluster", "fixture", "--config", str(CONFIG)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "pss-oracle-parity" in out and "only Rego fails ['sysctls']" in out, out


def test_compare_names_every_kind_of_disagreement():
    rego = PodSecurity(pods={(1, ""): "restricted", (2, ""): "baseline", (5, "driver"): "restricted"},
                       failed={(1, ""): {"hostPorts"}, (2, ""): set(), (5, "driver"): set()})
    result = oracle.compare(rego, {"psaModule": "m", "results": [
        {"index": 1, "pod": "", "level": "restricted", "version": "latest",
         "checks": [{"id": "hostPorts", "reason": "hostPort"}]},
        {"index": 2, "pod": "", "level": "restricted", "version": "latest", "checks": []},
        {"index": 3, "pod": "", "error": "cannot decode the pod template: bad"},
        {"index": 4, "pod": "", "error": "cannot decode the pod template: bad"},
        {"index": 6, "pod": "", "level": "restricted", "version": "latest",
         "checks": [{"id": "sysctls", "reason": "forbidden sysctls", "detail": "kernel.x"}]},
    ]}, schema_failed={4})
    assert result.agreed == 1 and result.pods == 3
    messages = {index: message for index, _, message in result.disagreements}
    assert "namespace level: Rego baseline, oracle restricted" in messages[2]
    assert "cannot read" in messages[3] and "schema check passed it" in messages[3]
    assert 4 not in messages and [s[0] for s in result.skipped] == [4]
    assert "Rego rules evaluated a driver pod" in messages[5]
    assert "that the Rego rules do not see" in messages[6] and "sysctls" in messages[6]


def test_the_oracle_build_is_a_no_op_when_current():
    binary = paths.TOOLS_DIR / "bin" / "psa-oracle"
    before = binary.stat().st_mtime_ns
    proc = subprocess.run([str(paths.ROOT / "tools" / "psa-oracle" / "build.sh")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "building" not in proc.stdout and binary.stat().st_mtime_ns == before


def test_windows_pods_are_exempt_from_the_linux_only_controls_on_both_sides(tmp_path, capsys):
    case = tmp_path / "windows"
    case.mkdir()
    (case / "kustomization.yaml").write_text(
        f"resources:\n- {os.path.relpath(FIXTURES / 'good-app', case)}\npatches:\n- path: patch.yaml\n")
    (case / "patch.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {
            "os": {"name": "windows"},
            "securityContext": {"seccompProfile": None},
            "containers": [{"name": "web", "securityContext": {"allowPrivilegeEscalation": None, "capabilities": None}}],
        }}}}))
    code = main(["--path", str(case), "--cluster", "fixture", "--config", str(CONFIG), "--show-parity"])
    out = capsys.readouterr().out
    assert "Deployment demo/web at restricted: agree (oracle fails: none)" in out, out
    for rule in ("container-no-privilege-escalation", "container-drop-all-capabilities", "container-seccomp"):
        assert rule not in out, out
    assert code == 0, out
