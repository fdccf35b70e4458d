"""PostgreSQL for Airflow's metadata DB: own data dir, loopback TCP only, own port.

PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres` system user
(created by Debian's package) and owns only its data dir.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .layout import Layout
from .procs import Service

PG_BIN_CANDIDATES = [Path("/usr/local/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


class PostgresError(RuntimeError):
    pass


def pg_bin(name: str) -> str:
    for directory in PG_BIN_CANDIDATES:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if not found:
        raise PostgresError(f"PostgreSQL program '{name}' not found; run `make localplatform-deps`")
    return found


def _run_as() -> list[str]:
    """Prefix that drops root to the postgres user; empty when we are not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as err:
        raise PostgresError("running as root but no 'postgres' user; run `make localplatform-deps`") from err
    # setpriv execs in place (no lingering parent), so the PID file names the postmaster itself.
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


def _server_user_can_reach(directory: Path) -> bool:
    if os.geteuid() != 0:
        return True
    probe = subprocess.run([*_run_as(), "test", "-w", str(directory)], capture_output=True)
    return probe.returncode == 0


def prepare_data_dir(layout: Layout) -> Path:
    """`.run/localplatform/pg`, or when the server user cannot reach the checkout (e.g. a clone under
    /root), a directory under /var/tmp that `.run/localplatform/pg` links to."""
    data = layout.pg_data
    if data.exists() or data.is_symlink():
        return data
    layout.run_dir.chmod(layout.run_dir.stat().st_mode | 0o011)  # let the server user traverse .run/localplatform
    data.mkdir(parents=True)
    _chown_to_server_user(data)
    if not _server_user_can_reach(data):
        data.rmdir()
        digest = hashlib.sha256(str(layout.run_dir).encode()).hexdigest()[:12]
        outside = Path("/var/tmp") / f"localplatform-pg-{digest}"
        shutil.rmtree(outside, ignore_errors=True)
        outside.mkdir(parents=True)
        _chown_to_server_user(outside)
        data.symlink_to(outside)
    return data


def init_cluster(layout: Layout, password: str) -> None:
    """initdb once: superuser `airflow` with a password, scram auth on loopback, DB `airflow`."""
    data = prepare_data_dir(layout).resolve()  # the server user may not traverse the link's parents
    if (data / "PG_VERSION").exists():
        return
    data.chmod(0o700)
    _chown_to_server_user(data)
    # initdb reads the password from a file the server user can open; it lives only for this call.
    with tempfile.NamedTemporaryFile("w", prefix="pgpw-", delete=True) as pwfile:
        pwfile.write(password + "\n")
        pwfile.flush()
        _chown_to_server_user(Path(pwfile.name))
        proc = subprocess.run(
            [*_run_as(), pg_bin("initdb"), "-D", str(data), "-U", "airflow", f"--pwfile={pwfile.name}",
             "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"],
            capture_output=True, text=True,
        )
    if proc.returncode != 0:
        raise PostgresError(f"initdb {data} failed: {proc.stderr.strip()}")


def service(layout: Layout) -> Service:
    argv = [*_run_as(), pg_bin("postgres"), "-D", str(layout.pg_data.resolve()),
            "-c", "listen_addresses=127.0.0.1", "-c", f"port={layout.postgres_port}",
            "-c", "unix_socket_directories=", "-c", "max_connections=200",
            "-c", "fsync=off"]  # run state only; losing it on a crash costs a `make down up`
    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for Airflow's pooled connections.
    return Service("postgres", argv, env=dict(os.environ), cwd=layout.run_dir, stop_signal=signal.SIGINT)


def wait_ready(layout: Layout, password: str, timeout: float = 60.0) -> None:
    env = {**os.environ, "PGPASSWORD": password}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(layout.postgres_port), "-U", "airflow",
                                "-d", "postgres", "-tAc", "select 1"], env=env, capture_output=True, text=True)
        if probe.returncode == 0:
            return
        time.sleep(0.5)
    raise PostgresError(f"PostgreSQL did not accept connections on 127.0.0.1:{layout.postgres_port} "
                        f"within {timeout:.0f}s; see {layout.log_dir / 'postgres.log'}")


def ensure_database(layout: Layout, password: str, name: str = "airflow") -> None:
    env = {**os.environ, "PGPASSWORD": password}
    base = ["psql", "-h", "127.0.0.1", "-p", str(layout.postgres_port), "-U", "airflow", "-d", "postgres", "-tAc"]
    exists = subprocess.run([*base, f"select 1 from pg_database where datname = '{name}'"],
                            env=env, capture_output=True, text=True, check=True).stdout.strip()
    if exists != "1":
        subprocess.run([*base, f'create database "{name}"'], env=env, capture_output=True, check=True)
