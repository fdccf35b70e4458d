"""The local cluster's stand-ins for upstream images no build here serves at their version
(tools/platform/images/postgres and git-sync): how they are found and built, the names they are
served under, the laptop mappings that point the manifests at them, and their own code (our postgres
entrypoint, run on this machine's PostgreSQL; the git-sync stand-in's probe endpoint)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tools.images.bases import BASES
from tools.images.build import Builder, copy_sources, discover, laptop_tags, upstream_ref
from tools.k8s import layout as L
from tools.localplatform.gitsync import Syncer, parse_bind
from tools.versions import read_versions

VERSIONS = read_versions()
PG_MAJOR = VERSIONS["POSTGRES_LOCAL_VERSION"]
LAPTOP = L.ROOT / "clusters" / "local" / "laptop" / "kustomization.yaml"
# image -> (upstream image it stands in for, the tag it is served under)
STAND_INS = {
    "postgres": ("docker.io/library/postgres", PG_MAJOR),
    "git-sync": ("registry.k8s.io/git-sync/git-sync", f"{VERSIONS['GIT_SYNC_VERSION']}-standin"),
}


@pytest.fixture(scope="module")
def images():
    return {image.name: image for image in discover() if image.group == "platform"}


@pytest.mark.parametrize("name", sorted(STAND_INS))
def test_stand_in_is_a_platform_image_on_its_own_base(images, name):
    image = images[name]
    assert image.binaries == (), "nothing from .tools/bin: every COPY source is in the folder"
    assert Builder.bases_of(image) == {"BASE_IMAGE": name}
    assert name in BASES
    text = image.dockerfile.read_text()
    assert re.search(r"^ARG BASE_IMAGE\s*$", text, re.M) and re.search(r"^FROM \$\{BASE_IMAGE\}\s*$", text, re.M)


@pytest.mark.parametrize("name", sorted(STAND_INS))
def test_stand_in_is_served_under_our_name_and_the_laptop_maps_upstream_to_it(images, name):
    upstream, tag = STAND_INS[name]
    local = f"{L.IMAGE_REPOSITORY}/{name}"
    assert upstream_ref(images[name].dockerfile) == f"{local}:{tag}"
    entries = {e["name"]: e for e in yaml.safe_load(LAPTOP.read_text())["images"]}
    assert entries[upstream] == {"name": upstream, "newName": local, "newTag": tag}
    assert laptop_tags()[name] == tag


def test_the_stand_in_versions_differ_from_what_the_manifests_pin():
    """Why they are not served under the upstream names: another version (PostgreSQL) or another
    program (git-sync)."""
    postgres = (L.ROOT / "apps/airflow/components/postgres-in-cluster/postgres.yaml").read_text()
    pinned = re.search(r"image: docker\.io/library/postgres:(\S+)", postgres).group(1)
    assert pinned.split(".")[0] != PG_MAJOR
    git_sync = (L.ROOT / "apps/airflow/base/workloads/common-git-sync.yaml").read_text()
    assert f"image: registry.k8s.io/git-sync/git-sync:{VERSIONS['GIT_SYNC_VERSION']}" in git_sync
    assert STAND_INS["git-sync"][1].endswith("-standin")


def test_git_sync_image_packages_the_stand_in_itself(images):
    folder = images["git-sync"].dockerfile.parent
    assert "gitsync.py" in copy_sources(images["git-sync"].dockerfile)
    # A symlink, so the image and `python -m tools.localplatform.gitsync` run the same file; the
    # builder hashes and copies what it points at.
    assert (folder / "gitsync.py").is_symlink()
    assert (folder / "gitsync.py").resolve() == L.ROOT / "tools" / "localplatform" / "gitsync.py"
    assert '"/usr/bin/tini", "--", "python3"' in images["git-sync"].dockerfile.read_text()


def test_bases_keep_the_upstream_users_and_paths():
    postgres = BASES["postgres"]
    assert f"postgresql-{PG_MAJOR}" in postgres.packages
    assert postgres.env["PATH"].startswith(f"/usr/lib/postgresql/{PG_MAJOR}/bin:")
    assert postgres.user == "999" and postgres.env["PGDATA"] == "/var/lib/postgresql/data"
    assert any("usermod -u 999 postgres" in hook for hook in postgres.hooks)
    git_sync = BASES["git-sync"]
    assert {"git", "python3", "tini"} <= set(git_sync.packages)
    assert git_sync.user == "65533" and git_sync.env["HOME"] == "/tmp"


# --- our postgres entrypoint, on this machine's PostgreSQL ------------------------------------

PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
ENTRYPOINT = L.ROOT / "tools" / "platform" / "images" / "postgres" / "docker-entrypoint.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_dir():
    # initdb refuses root: the server runs as nobody, in a folder nobody may write.
    if not (PG_BIN / "initdb").exists() or shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip(f"needs PostgreSQL {PG_MAJOR} at {PG_BIN}, setpriv and root")
    work = Path(tempfile.mkdtemp(prefix="pg-entrypoint-"))
    work.chmod(0o755)
    os.chown(work, 65534, 65534)
    yield work
    shutil.rmtree(work, ignore_errors=True)


def _as_nobody(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args],
                            env=env, **kw)


def _psql(env: dict[str, str], port: int, password: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "-d", "airflow",
                           "-tAc", sql], env={**env, "PGPASSWORD": password}, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.slow
def test_entrypoint_initialises_an_empty_pgdata_with_the_env_contract(pg_dir):
    port, sockets = _free_port(), pg_dir / "run"
    sockets.mkdir()
    os.chown(sockets, 65534, 65534)
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "PGDATA": str(pg_dir / "data" / "pgdata"), "POSTGRES_USER": "airflow",
           "POSTGRES_DB": "airflow", "POSTGRES_PASSWORD": "pw with 'quotes' and $dollars", "TMPDIR": str(pg_dir),
           "POSTGRES_SOCKET_DIR": str(sockets), "LANG": "C.UTF-8"}
    server_args = [str(ENTRYPOINT), "postgres", "-c", f"port={port}", "-c", f"unix_socket_directories={sockets}",
                   "-c", "listen_addresses=127.0.0.1"]
    log = (pg_dir / "server.log").open("w")
    server = _as_nobody(server_args, env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(60):
            ready = subprocess.run([str(PG_BIN / "pg_isready"), "-h", str(sockets), "-p", str(port), "-U", "airflow",
                                    "-d", "airflow"], capture_output=True)
            if ready.returncode == 0 and "entrypoint: initialised" in (pg_dir / "server.log").read_text():
                break
            assert server.poll() is None, (pg_dir / "server.log").read_text()
            time.sleep(0.5)
        assert ready.returncode == 0, (pg_dir / "server.log").read_text()
        # Over TCP with the password (scram-sha-256), as the owner of the database it created.
        ok = _psql(env, port, env["POSTGRES_PASSWORD"], "select current_user || ' ' || current_database() || ' ' || "
                   "(select datdba::regrole::text from pg_database where datname = 'airflow') || ' ' || "
                   "(select substr(rolpassword, 1, 13) from pg_authid where rolname = 'airflow')")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip() == "airflow airflow airflow SCRAM-SHA-256"
        wrong = _psql(env, port, "wrong", "select 1")
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
        hba = (Path(env["PGDATA"]) / "pg_hba.conf").read_text()
        assert "host all all all scram-sha-256" in hba
        assert oct((Path(env["PGDATA"])).stat().st_mode & 0o777) == "0o700"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    # A second start finds PGDATA initialised and starts the server without touching it.
    server = _as_nobody(server_args, {**env, "POSTGRES_PASSWORD": ""}, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(60):
            if _psql(env, port, env["POSTGRES_PASSWORD"], "select 1").returncode == 0:
                break
            time.sleep(0.5)
        assert _psql(env, port, env["POSTGRES_PASSWORD"], "select 1").stdout.strip() == "1"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert "initialising" not in out


def test_entrypoint_refuses_an_empty_pgdata_without_a_password(tmp_path):
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "PGDATA": str(tmp_path / "data"), "POSTGRES_PASSWORD": ""}
    proc = subprocess.run(["bash", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "POSTGRES_PASSWORD is not set" in proc.stderr
    assert not (tmp_path / "data").exists()


# --- the git-sync stand-in's HTTP endpoint (GITSYNC_HTTP_BIND) ---------------------------------

@pytest.mark.parametrize("text, expected", [(":2020", ("", 2020)), ("127.0.0.1:0", ("127.0.0.1", 0)),
                                            ("[::1]:2020", ("::1", 2020)), ("", None), ("  ", None)])
def test_parse_bind(text, expected):
    assert parse_bind(text) == expected


@pytest.mark.parametrize("text", ["2020", "host:", "host:http"])
def test_parse_bind_rejects(text):
    with pytest.raises(ValueError):
        parse_bind(text)


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.parametrize("metrics", [True, False])
def test_probe_answers_503_until_a_sync_succeeded_then_200(tmp_path, metrics):
    syncer = Syncer({"GITSYNC_REPO": "http://example.invalid/repo.git", "GITSYNC_ROOT": str(tmp_path),
                     "GITSYNC_HTTP_BIND": "127.0.0.1:0", "GITSYNC_HTTP_METRICS": str(metrics).lower()})
    server = syncer.serve_http()
    try:
        port = server.server_address[1]
        assert _get(port, "/")[0] == 503
        syncer.counts["success"] += 1
        syncer.last_success = time.time()
        assert _get(port, "/") == (200, "ok\n")
        status, body = _get(port, "/metrics")
        if metrics:
            assert status == 200 and 'git_sync_count_total{status="success"} 1' in body
        else:
            assert status == 404
    finally:
        server.shutdown()
        server.server_close()


def test_no_http_server_when_the_bind_is_empty(tmp_path):
    # The task pods' one-time init container sets GITSYNC_HTTP_BIND="" (nothing to probe).
    syncer = Syncer({"GITSYNC_REPO": "x", "GITSYNC_ROOT": str(tmp_path), "GITSYNC_HTTP_BIND": ""})
    assert syncer.serve_http() is None
