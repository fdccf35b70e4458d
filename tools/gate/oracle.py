"""Pod Security parity: the Rego rules (policies/podsecurity.rego) against Kubernetes' own Pod
Security admission code (tools/psa-oracle, k8s.io/pod-security-admission at the API server's
version), on every pod the rendered objects yield, at the level of each pod's namespace.

The oracle reads the same input the Rego rules read (the gate's OPA input file). For each pod,
both sides name the controls it fails (the oracle's check IDs); any difference, a pod only one side
found, or a different level is a disagreement and fails the gate with the file, the object and the
controls. Objects the oracle cannot decode are only accepted when the schema check already failed
them (the API server would reject them before Pod Security admission runs).
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .policy import PodSecurity

RULE = "pss-oracle-parity"


@dataclass
class Comparison:
    pods: int = 0                      # pods compared (agreeing or not)
    objects: set[int] = field(default_factory=set)
    agreed: int = 0
    skipped: list[tuple[int, str, str]] = field(default_factory=list)   # (index, role, reason)
    disagreements: list[tuple[int, str, str]] = field(default_factory=list)  # (index, role, message)
    module: str = ""
    # one entry per pod the oracle evaluated: (index, role, level, agreed, controls the oracle fails)
    pods_seen: list[tuple[int, str, str, bool, list[str]]] = field(default_factory=list)


def run_oracle(input_file: Path) -> dict:
    proc = subprocess.run([paths.tool("psa-oracle"), str(input_file)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"psa-oracle failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return json.loads(proc.stdout)


def _pod(role: str) -> str:
    return f"{role} pod" if role else "pod"


def compare(rego: PodSecurity, oracle: dict, schema_failed: set[int]) -> Comparison:
    out = Comparison(module=oracle.get("psaModule", ""))
    seen: set[tuple[int, str]] = set()
    for res in oracle.get("results", []):
        key = (res["index"], res.get("pod", ""))
        role = key[1]
        if res.get("error"):
            if res["index"] in schema_failed:
                out.skipped.append((key[0], role, res["error"]))
                seen.add(key)
                continue
            out.disagreements.append((key[0], role, f"the oracle cannot read the {_pod(role)} "
                                      f"({res['error']}) but the schema check passed it"))
            seen.add(key)
            continue
        seen.add(key)
        out.pods += 1
        out.objects.add(key[0])
        oracle_failed = {c["id"] for c in res.get("checks") or []}
        if key not in rego.pods:
            out.pods_seen.append((key[0], role, res["level"], False, sorted(oracle_failed)))
            out.disagreements.append((key[0], role, f"the oracle evaluated a {_pod(role)} at {res['level']} "
                                      f"(fails: {sorted(oracle_failed) or 'none'}) that the Rego rules do not see"))
            continue
        problems = []
        if rego.pods[key] != res["level"]:
            problems.append(f"namespace level: Rego {rego.pods[key]}, oracle {res['level']}")
        rego_failed = rego.failed.get(key, set())
        only_rego, only_oracle = sorted(rego_failed - oracle_failed), sorted(oracle_failed - rego_failed)
        if only_rego:
            problems.append(f"only Rego fails {only_rego}")
        if only_oracle:
            details = "; ".join(f"{c['id']}: {c['reason']}" + (f" ({c['detail']})" if c.get("detail") else "")
                                for c in res.get("checks") or [] if c["id"] in only_oracle)
            problems.append(f"only the oracle fails {only_oracle} ({details})")
        if problems:
            out.disagreements.append((key[0], role, f"{_pod(role)} at {res['level']} {res['version']}: "
                                      + "; ".join(problems)))
        else:
            out.agreed += 1
        out.pods_seen.append((key[0], role, res["level"], not problems, sorted(oracle_failed)))
    for key in sorted(set(rego.pods) - seen):
        out.disagreements.append((key[0], key[1], f"the Rego rules evaluated a {_pod(key[1])} at {rego.pods[key]} "
                                  "that the oracle does not see"))
    return out
