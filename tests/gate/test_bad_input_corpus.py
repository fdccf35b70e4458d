"""The bad-input corpus: each case breaks the good fixture app one way, and the gate must fail
with a message that names the file, the object and the rule."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools.gate import policy
from tools.gate.__main__ import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = sorted(p.name for p in (FIXTURES / "bad").iterdir() if (p / "expect.yaml").is_file())
CONFIG = FIXTURES / "policy-config.yaml"


def run_gate(path: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["--path", str(path), "--cluster", "fixture", "--config", str(CONFIG), *extra])
    return code, capsys.readouterr().out


def test_corpus_is_large_enough():
    assert len(CASES) >= 45


def parity_line(out: str) -> str:
    lines = [line for line in out.splitlines() if "Pod Security parity with k8s.io/pod-security-admission@" in line]
    assert len(lines) == 1, f"no Pod Security parity summary in:\n{out}"
    return lines[0]


def test_good_app_passes_every_rule(capsys):
    code, out = run_gate(FIXTURES / "good-app", capsys)
    assert code == 0, out
    assert "0 failures" in out.splitlines()[-1]
    # the embedded pod template was expanded and counted as an object of its own
    assert "objects checked" in out
    line = parity_line(out)
    assert " 0 disagree" in line and " 0 pods compared" not in line, line


@pytest.mark.parametrize("case", CASES)
def test_bad_case_fails_with_named_file_object_and_rule(case, capsys):
    expect = yaml.safe_load((FIXTURES / "bad" / case / "expect.yaml").read_text())
    code, out = run_gate(FIXTURES / "bad" / case, capsys)
    assert code == 1, out
    failures = [block for block in out.split("FAIL ")[1:]]
    matching = [b for b in failures if f": {expect['rule']}" in b.splitlines()[0]]
    assert matching, f"no finding with rule {expect['rule']!r} in:\n{out}"
    assert any(all(text in b for text in expect["contains"]) for b in matching), out
    assert any("fix:" in b for b in matching), "every finding carries a fix hint"
    assert out.strip().splitlines()[-1].startswith("gate: ") and "failures" in out.splitlines()[-1]
    # Rego and Kubernetes' own Pod Security code agree on every pod of every case
    assert " 0 disagree" in parity_line(out), out
    assert "pss-oracle-parity" not in out, out


def test_every_policy_rule_has_a_failing_case():
    covered = {yaml.safe_load((FIXTURES / "bad" / c / "expect.yaml").read_text())["rule"] for c in CASES}
    missing = policy.rule_ids() - covered
    assert not missing, f"rules without a failing fixture in tests/fixtures/bad: {sorted(missing)}"


def test_exception_waives_exactly_its_object(tmp_path, capsys):
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text(yaml.safe_dump({"exceptions": [{
        "rule": "container-readonly-rootfs", "kind": "Deployment", "namespace": "demo", "name": "web",
        "container": "web", "reason": "the app writes its cache next to the binary (fixture)"}]}))
    code, out = run_gate(FIXTURES / "bad" / "writable-rootfs", capsys, "--exceptions", str(exceptions))
    assert code == 0, out
    other = FIXTURES / "bad" / "privileged"
    code, out = run_gate(other, capsys, "--exceptions", str(exceptions))
    assert code == 1 and "container-not-privileged" in out


@pytest.mark.parametrize("entry, error", [
    ({"rule": "container-readonly-rootfs", "kind": "Deployment", "name": "web"}, "'reason' is required"),
    ({"rule": "no-such-rule", "kind": "Deployment", "name": "web", "reason": "x"}, "does not exist"),
    ({"rule": "image-pinned", "kind": "Deployment", "name": "web", "reason": "x", "typo": 1}, "unknown keys"),
])
def test_bad_exception_entries_are_rejected(tmp_path, capsys, entry, error):
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text(yaml.safe_dump({"exceptions": [entry]}))
    code = main(["--path", str(FIXTURES / "good-app"), "--cluster", "fixture", "--config", str(CONFIG),
                 "--exceptions", str(exceptions)])
    err = capsys.readouterr().err
    assert code == 2
    assert error in err and "exceptions[0]" in err


def test_missing_cluster_config_is_a_clear_error(tmp_path, capsys):
    code = main(["--path", str(FIXTURES / "good-app"), "--cluster", "nowhere"])
    assert code == 2
    assert "policies/config/nowhere.yaml" in capsys.readouterr().err


def test_every_rule_a_case_expects_is_a_declared_rule():
    """rule_ids() is what exceptions are checked against: a rule the corpus sees firing must be in it."""
    expected = {yaml.safe_load((FIXTURES / "bad" / c / "expect.yaml").read_text())["rule"] for c in CASES}
    gate_rules = {r for r in expected if r in {"kustomize", "schema"} or r.startswith("yamllint/")}
    assert expected - gate_rules <= policy.rule_ids()


def test_a_listed_api_client_may_mount_its_token(tmp_path, capsys):
    config = yaml.safe_load(CONFIG.read_text())
    config["kubernetesApiClients"] = ["demo/default"]
    listed = tmp_path / "config.yaml"
    listed.write_text(yaml.safe_dump(config))
    code = main(["--path", str(FIXTURES / "bad" / "token-automounted"), "--cluster", "fixture", "--config", str(listed)])
    out = capsys.readouterr().out
    assert code == 0 and "serviceaccount-token-not-mounted" not in out, out
    code, out = run_gate(FIXTURES / "bad" / "token-automounted", capsys)
    assert code == 1 and "serviceaccount-token-not-mounted" in out
