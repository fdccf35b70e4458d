"""Scan every tracked file for secret material: the CI check that keeps secrets out of git.

Manifests are covered by the `no-plaintext-secret` policy; this catches the rest (a key pasted into
a script, a webhook URL in a DAG, a token in a README). Values belong in NHN Cloud Secure Key Manager
and reach the cluster through External Secrets.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from . import paths

PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "Slack webhook URL": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,}"),
    "Dooray! hook URL": re.compile(r"hook\.dooray\.com/services/\d{6,}/\d{6,}/[A-Za-z0-9_-]{16,}"),
    "GitHub token": re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    "AWS-style access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Jenkins API token": re.compile(r"\b11[0-9a-f]{32}\b"),
    "Fernet key assignment": re.compile(r"(?i)fernet[_-]?key\s*[:=]\s*['\"]?[A-Za-z0-9_-]{43}=(?![A-Za-z0-9])"),
}


def tracked_files(root: Path) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return [root / name for name in out.decode().split("\0") if name]


def scan_text(text: str) -> list[tuple[int, str]]:
    """(line number, kind) of every match."""
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                hits.append((number, kind))
    return hits


def scan(root: Path = paths.ROOT) -> list[str]:
    findings = []
    for path in tracked_files(root):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary (screenshots): nothing a person would paste a key into
        for number, kind in scan_text(text):
            findings.append(f"{paths.rel(path)}:{number}: {kind} in a tracked file; "
                            "fix: remove it from git (and its history), rotate it, keep it in Secure Key Manager")
    return findings


def main() -> int:
    findings = scan()
    for finding in findings:
        print(finding)
    print(f"secrets-scan: {len(tracked_files(paths.ROOT))} tracked files, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
