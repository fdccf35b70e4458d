"""Runs last (file order): `down` stops everything `up` started; nothing is left behind."""

from __future__ import annotations

import socket

import pytest

from tools.localplatform import platform
from tools.localplatform.procs import find_marked

pytestmark = pytest.mark.e2e


def test_down_leaves_no_process_and_no_listening_port(layout):
    table = platform.table(layout)
    pids_before = {name: table.read(name) for name in platform.STOP_ORDER}
    assert all(pids_before.values()), f"platform not fully up before down: {pids_before}"
    sessions = {pid for pid, _ in pids_before.values()}
    assert len(find_marked(layout.run_dir, sessions)) >= len(sessions)

    strays = platform.down(layout)

    assert strays == [], f"processes survived their group's stop: {strays}"
    assert find_marked(layout.run_dir, sessions) == []
    assert not any(platform.status(layout).values())
    assert table.names() == [], "PID files left behind"
    for port in (layout.postgres_port, layout.api_port, layout.git_port, layout.smtp_port, layout.webhook_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"
