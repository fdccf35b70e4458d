"""Helpers of the IdP suite (conftest.py and its test files): a free loopback port, `python -m tools.idp`."""
from __future__ import annotations

import socket
import subprocess
import sys

from tools.idp.keycloak import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def idp(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.idp", command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
