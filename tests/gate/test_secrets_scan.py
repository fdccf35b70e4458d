"""The repository-wide secret scan (part of `make validate`)."""
from __future__ import annotations

import subprocess

import pytest

from tools.gate import secrets_scan

# Built at run time so this file itself holds nothing the scanner would flag.
SAMPLES = {
    "private key": "-----BEGIN " + "OPENSSH PRIVATE KEY-----",
    "Slack webhook URL": "https://hooks.slack.com/services/" + "T0123ABCD/B0123ABCD/" + "a1" * 12,
    "GitHub token": "token: ghp" + "_" + "A1b2" * 9,
    "AWS-style access key id": "key=AKIA" + "ABCDEFGHIJKLMNOP",
}


@pytest.mark.parametrize("kind, line", sorted(SAMPLES.items()))
def test_scanner_flags_each_kind(kind, line):
    assert (3, kind) in secrets_scan.scan_text(f"a: 1\nb: 2\n{line}\n")


def test_placeholders_and_hashes_pass():
    text = ("password: ${AIRFLOW_DB_PASSWORD}\n"
            "--hash=sha256:11" + "ab" * 31 + "\n"
            "slack: https://hooks.slack.com/services/REPLACE/ME/PLACEHOLDER\n")
    assert secrets_scan.scan_text(text) == []


def test_a_committed_key_fails_the_scan(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "deploy.sh").write_text("echo ok\n" + SAMPLES["private key"] + "\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "deploy.sh"], check=True)
    findings = secrets_scan.scan(tmp_path)
    assert len(findings) == 1 and "deploy.sh:2: private key" in findings[0]


def test_repository_has_no_secrets():
    assert secrets_scan.scan() == []
