"""Evaluate the Rego policies in policies/ with OPA, and apply the exceptions file."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import paths

DEFAULT_REQUIRED_LABELS = ["app.kubernetes.io/name", "app.kubernetes.io/part-of", "owner"]
EXCEPTION_KEYS = {"rule", "kind", "namespace", "name", "container", "clusters", "reason"}


class ConfigError(ValueError):
    pass


@dataclass
class Violation:
    index: int
    rule: str
    container: str
    message: str
    hint: str


def rego_files() -> list[Path]:
    return sorted(p for p in paths.POLICY_DIR.rglob("*.rego") if not p.name.endswith("_test.rego"))


_RULE_ID = re.compile(r'(?:violation\(\s*\w+,\s*|"rule":\s*)"([a-z][a-z0-9-]*)"')


def rule_ids() -> set[str]:
    """Rule ids declared in the Rego files (used to reject exceptions for rules that do not exist):
    the rule argument of violation()/object_violation()/pss_violation(), or a literal "rule": "id"."""
    ids = set()
    for f in rego_files():
        ids.update(_RULE_ID.findall(f.read_text()))
    return ids


def load_cluster_config(cluster: str, config_file: Path | None = None) -> dict:
    path = config_file or paths.POLICY_DIR / "config" / f"{cluster}.yaml"
    if not path.is_file():
        raise ConfigError(f"{paths.rel(path)}: no policy config for cluster {cluster!r}")
    config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config.get("allowedRegistries"), list) or not config["allowedRegistries"]:
        raise ConfigError(f"{paths.rel(path)}: allowedRegistries must be a non-empty list of registry prefixes")
    config.setdefault("requiredLabels", DEFAULT_REQUIRED_LABELS)
    return config


def load_exceptions(path: Path | None = None) -> list[dict]:
    path = path or paths.EXCEPTIONS_FILE
    if not path.is_file():
        return []
    entries = (yaml.safe_load(path.read_text()) or {}).get("exceptions") or []
    known_rules = rule_ids()
    for i, entry in enumerate(entries):
        where = f"{paths.rel(path)}: exceptions[{i}]"
        unknown = set(entry) - EXCEPTION_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("rule", "kind", "name", "reason"):
            if not str(entry.get(key, "")).strip():
                raise ConfigError(f"{where}: {key!r} is required (every exception names its object and says why)")
        if entry["rule"] not in known_rules:
            raise ConfigError(f"{where}: rule {entry['rule']!r} does not exist (known: {', '.join(sorted(known_rules))})")
    return entries


@dataclass
class PodSecurity:
    """What the Rego Pod Security rules concluded, for the comparison with the oracle: every pod
    they found ((index, role) -> namespace level) and the controls it fails at that level."""
    pods: dict[tuple[int, str], str]
    failed: dict[tuple[int, str], set[str]]


def evaluate(cluster: str, config: dict, objects: list[dict], workdir: Path) -> list[Violation]:
    """The policy violations of `objects` (the Rego rules' findings, before exceptions)."""
    return evaluate_with_pod_security(cluster, config, objects, workdir)[0]


def evaluate_with_pod_security(cluster: str, config: dict, objects: list[dict],
                               workdir: Path) -> tuple[list[Violation], PodSecurity]:
    """The violations, and the Rego Pod Security verdict per pod (what the oracle is compared with).
    The OPA input is left in workdir/input.json for the oracle to read."""
    workdir.mkdir(parents=True, exist_ok=True)
    input_file = workdir / "input.json"
    input_file.write_text(json.dumps({
        "cluster": cluster,
        "config": config,
        "objects": [{"index": i, "object": obj} for i, obj in enumerate(objects)],
    }))
    cmd = [paths.tool("opa"), "eval", "--format", "json", "--input", str(input_file)]
    for f in rego_files():
        cmd += ["--data", str(f)]
    cmd.append("data.platform.violations; data.platform.pss_pods; data.platform.pss_verdicts")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"opa eval failed: {proc.stderr.strip() or proc.stdout.strip()}")
    result = json.loads(proc.stdout)
    if not result.get("result"):
        raise RuntimeError(f"opa eval returned no result: {proc.stdout[:500]}")
    values, pss_pods, pss_verdicts = (e["value"] for e in result["result"][0]["expressions"])
    out = [Violation(v["index"], v["rule"], v.get("container", ""), v["msg"], v.get("hint", "")) for v in values]
    pods = {(p["index"], p["role"]): p["level"] for p in pss_pods}
    failed: dict[tuple[int, str], set[str]] = {key: set() for key in pods}
    for v in pss_verdicts:
        failed.setdefault((v["index"], v["role"]), set()).add(v["check"])
    return sorted(out, key=lambda v: (v.index, v.rule, v.container, v.message)), PodSecurity(pods, failed)


def matches(exception: dict, cluster: str, obj: dict, violation: Violation) -> bool:
    meta = obj.get("metadata") or {}
    return (
        exception["rule"] == violation.rule
        and exception["kind"] == obj.get("kind")
        and exception["name"] == meta.get("name")
        and exception.get("namespace", meta.get("namespace")) == meta.get("namespace")
        and exception.get("container", violation.container) == violation.container
        and cluster in exception.get("clusters", [cluster])
    )
