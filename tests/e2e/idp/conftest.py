"""The suite's one Keycloak (tools/idp, the code behind `make idp-up`), shared by its test files:
own state dir and a free port, so a developer's `make idp-up` on 18080 is not disturbed.

The airflow client's redirect URI is the Airflow API server of test_airflow_login.py, whose port is
chosen here, before Keycloak imports the realm (IDP_AIRFLOW_URL)."""
from __future__ import annotations

import os
import shutil
import time

import pytest
from idp_e2e_util import free_port, idp

from tools.idp import keycloak
from tools.idp.keycloak import Config, our_processes

ROOT = keycloak.ROOT
STATE = ROOT / ".run" / "e2e-idp"


@pytest.fixture(scope="session")
def airflow_url() -> str:
    """Where test_airflow_login.py's API server listens (and so the airflow client's callback)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def server(airflow_url):
    env = {**os.environ, "IDP_STATE_DIR": str(STATE), "IDP_PORT": str(free_port()), "IDP_AIRFLOW_URL": airflow_url}
    env.pop("IDP_NETNS", None)
    cfg = Config.from_env(env)
    idp("down", env)  # a half-started server of an earlier run
    started = time.monotonic()
    out = idp("up", env)
    assert out.returncode == 0, out.stdout + out.stderr
    print(f"Keycloak up in {time.monotonic() - started:.1f}s: {out.stdout.strip()}")
    yield cfg, env
    out = idp("down", env)
    assert out.returncode == 0, out.stderr
    assert our_processes(cfg) == [], "a Keycloak process of the e2e state dir survived idp down"
    assert not cfg.secrets_file.exists() and not (cfg.home / "data").exists(), "down keeps no secrets or data"
    shutil.rmtree(STATE, ignore_errors=True)  # the copy of the distribution (about 200 MB)


@pytest.fixture(scope="session")
def creds(server):
    cfg, _ = server
    return keycloak.load_secrets(cfg)
