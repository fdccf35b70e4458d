"""People log in to Airflow through the IdP, for real: a real Airflow API server with the FAB auth
manager and the repository's own apps/airflow/components/sso/webserver_config.py, pointed at the
suite's Keycloak (conftest.py), and each user's browser login driven with `requests` through the
OAuth authorization-code flow (Airflow's FAB login -> Keycloak's login form -> Airflow's
oauth-authorized callback). The role each user ends up with is the one webserver_config.py maps its
IdP group to; a wrong password gets nobody in.

Airflow runs the way the local platform runs it on the host (tools/localplatform: its PostgreSQL,
process table, `airflow db migrate`, the dev overlay's rendered airflow-config with the local
overrides), with what apps/airflow/overlays/dev adds through components/sso on top: the dev
overlay's AIRFLOW__CORE__AUTH_MANAGER, webserver_config.py at $AIRFLOW_HOME, SSO_ISSUER (here the
local Keycloak's issuer), SSO_CLIENT_ID=airflow and SSO_CLIENT_SECRET (here from the IdP's
secrets.json). `airflow db migrate` runs like the cluster's db-migrate Job: the FAB auth manager but
neither webserver_config.py nor the SSO settings. Every process started here is stopped at the end."""
from __future__ import annotations

import shutil
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
from idp_e2e_util import free_port

from tests.e2e.keycloak_browser import Browser, fill_login_form
from tools.idp.keycloak import ROOT, USERS
from tools.localplatform import airflow, platform, postgres, settings
from tools.localplatform.layout import Layout
from tools.localplatform.procs import find_marked

pytestmark = pytest.mark.e2e

RUN_DIR = ROOT / ".run" / "e2e-idp-airflow"
DEV_OVERLAY = ROOT / "apps" / "airflow" / "overlays" / "dev"
WEBSERVER_CONFIG = ROOT / "apps" / "airflow" / "components" / "sso" / "webserver_config.py"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# What webserver_config.py's AUTH_ROLES_MAPPING gives each IdP group (tests/manifests/test_sso.py
# reads the file for the same mapping).
ROLE_OF_GROUP = {"mlops-platform-admins": "Admin", "data-platform-engineers": "User"}
START_TIMEOUT = 300.0


def _remove_run_dir() -> None:
    pg = RUN_DIR / "pg"
    if pg.is_symlink():  # the data dir outside the checkout when the postgres user cannot reach it
        shutil.rmtree(pg.resolve(), ignore_errors=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)


def _wait_api_server(url: str, proc_alive, timeout: float = START_TIMEOUT) -> dict:
    """The API server answers its health endpoint with a healthy metadata DB (no scheduler runs here)."""
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while time.monotonic() < deadline:
        if not proc_alive():
            raise RuntimeError(f"the API server exited; see {RUN_DIR / 'logs' / 'airflow-api-server.log'}")
        try:
            health = requests.get(f"{url}/api/v2/monitor/health", timeout=5).json()
            last = health
            if health.get("metadatabase", {}).get("status") == "healthy":
                return health
        except (requests.RequestException, ValueError) as err:
            last = err
        time.sleep(2.0)
    raise TimeoutError(f"Airflow API server at {url} not healthy after {timeout:.0f}s; last answer: {last}")


@pytest.fixture(scope="module")
def airflow_server(server, creds, airflow_url):
    """PostgreSQL + `airflow db migrate` + one `airflow api-server` with the FAB auth manager."""
    cfg, _ = server
    port = int(urllib.parse.urlsplit(airflow_url).port)
    layout = Layout(run_dir=RUN_DIR, postgres_port=free_port(), api_port=port)
    platform.down(layout)  # what an interrupted earlier run left
    _remove_run_dir()
    layout.run_dir.mkdir(parents=True)
    procs = platform.table(layout)
    try:
        secrets = platform.load_secrets(layout)
        postgres.init_cluster(layout, secrets["db_password"])
        procs.start(postgres.service(layout))
        postgres.wait_ready(layout, secrets["db_password"])
        postgres.ensure_database(layout, secrets["db_password"])

        # The dev overlay's settings as the local platform uses them, then what components/sso
        # changes there: the auth manager and the client ID (from the rendered overlay, not written
        # here); only the issuer and the secret are the local Keycloak's.
        shared = settings.load_shared(DEV_OVERLAY)
        auth_manager = shared.airflow["AIRFLOW__CORE__AUTH_MANAGER"]
        assert auth_manager == FAB_AUTH_MANAGER, f"{DEV_OVERLAY} no longer logs in through FAB"
        client_id = next(o["data"]["SSO_CLIENT_ID"] for o in settings.render_overlay(DEV_OVERLAY)
                         if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "airflow-sso")
        env = airflow.base_env(layout, settings.local_airflow_env(shared, layout, secrets))
        env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER")}
        env["AIRFLOW__CORE__AUTH_MANAGER"] = auth_manager
        layout.airflow_home.mkdir(parents=True)
        Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).mkdir(parents=True)  # no DAGs: only the login is tested

        airflow.migrate(layout, env)  # like the db-migrate Job: no webserver_config.py, no SSO settings
        shutil.copyfile(WEBSERVER_CONFIG, layout.airflow_home / "webserver_config.py")
        api_env = {**env, "SSO_ISSUER": cfg.issuer, "SSO_CLIENT_ID": client_id,
                   "SSO_CLIENT_SECRET": creds["clients"]["airflow"]}
        procs.start(airflow.component_service("api-server", layout, api_env))
        _wait_api_server(layout.api_url, lambda: procs.is_running("airflow-api-server"))
        yield layout
    finally:
        strays = platform.down(layout)
        left = find_marked(layout.run_dir)
        _remove_run_dir()
    assert strays == [], f"processes that outlived their process group's stop (killed): {strays}"
    assert left == [], f"processes of {RUN_DIR} survived the stop: {left}"


def browser() -> requests.Session:
    return Browser()


def log_in(base_url: str, issuer: str, username: str, password: str) -> tuple[requests.Session, requests.Response]:
    """The browser's way in: Airflow's FAB login for provider keycloak -> Keycloak's login form ->
    POST the credentials -> Keycloak's redirect to Airflow's callback. Returns the browser and
    Keycloak's answer to the POST (a redirect to the callback when the credentials are right)."""
    session = browser()
    start = session.get(f"{base_url}/auth/login/keycloak", params={"next": f"{base_url}/"},
                        allow_redirects=False, timeout=30)
    assert start.status_code == 302, start.text[:500]
    authorize = urllib.parse.urlsplit(start.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{issuer}/protocol/openid-connect/auth"
    query = dict(urllib.parse.parse_qsl(authorize.query))
    assert query["client_id"] == "airflow"
    assert query["redirect_uri"] == f"{base_url}/auth/oauth-authorized/keycloak"
    assert set(query["scope"].split()) == {"openid", "profile", "email", "groups"}
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    return session, fill_login_form(session, start.headers["Location"], username, password)


def follow_callback(session: requests.Session, base_url: str, answer: requests.Response) -> requests.Response:
    assert answer.status_code == 302, f"Keycloak did not redirect back: {answer.status_code} {answer.text[:500]}"
    callback = answer.headers["Location"]
    assert callback.startswith(f"{base_url}/auth/oauth-authorized/keycloak?"), callback
    assert "code" in dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    return session.get(callback, allow_redirects=False, timeout=30)


@pytest.fixture(scope="module")
def sessions(airflow_server, server, creds):
    """A logged-in browser per user."""
    cfg, _ = server
    base = airflow_server.api_url
    out = {}
    for user in USERS:
        session, answer = log_in(base, cfg.issuer, user, creds["users"][user])
        done = follow_callback(session, base, answer)
        assert done.status_code == 302, done.text[:1000]
        assert urllib.parse.urlsplit(done.headers["Location"]).path == "/", done.headers["Location"]
        assert session.cookies.get("_token"), f"{user}: Airflow set no API token after the callback"
        out[user] = session
    return out


def list_dags(session: requests.Session, base_url: str) -> requests.Response:
    return session.get(f"{base_url}/api/v2/dags", params={"limit": 1}, timeout=30)


@pytest.mark.parametrize("user", sorted(USERS))
def test_login_through_keycloak_gives_the_role_of_the_users_group(airflow_server, sessions, user):
    base = airflow_server.api_url
    admin = sessions["platform-admin"]
    record = admin.get(f"{base}/auth/fab/v1/users/{user}", timeout=30)
    assert record.status_code == 200, record.text
    body = record.json()
    # The mapped role, plus AUTH_USER_REGISTRATION_ROLE (Viewer), which FAB gives every user it lets
    # in; Admin and User each hold all of Viewer's permissions, so the mapped role is what counts.
    assert {r["name"] for r in body["roles"]} == {ROLE_OF_GROUP[USERS[user]], "Viewer"}
    assert body["email"] == f"{user}@mlops-platform.example", "profile from Keycloak's userinfo"
    # The user's own session reaches the REST API (the _token cookie the callback set).
    assert list_dags(sessions[user], base).status_code == 200


def test_the_roles_decide_what_each_user_may_do(airflow_server, sessions):
    """Connections and users stay with admins (Admin); the data team (User) sees DAGs but neither."""
    base = airflow_server.api_url
    admin, engineer = sessions["platform-admin"], sessions["data-engineer"]
    assert admin.get(f"{base}/api/v2/connections", timeout=30).status_code == 200
    assert engineer.get(f"{base}/api/v2/connections", timeout=30).status_code == 403
    assert engineer.get(f"{base}/auth/fab/v1/users/platform-admin", timeout=30).status_code == 403
    assert engineer.get(f"{base}/api/v2/dags", timeout=30).status_code == 200


def test_a_wrong_password_does_not_log_in(airflow_server, server, creds):
    cfg, _ = server
    base = airflow_server.api_url
    session, answer = log_in(base, cfg.issuer, "data-engineer", "not-" + creds["users"]["data-engineer"])
    assert answer.status_code == 200, "Keycloak shows its form again instead of redirecting to Airflow"
    assert "Invalid username or password" in answer.text
    assert "oauth-authorized" not in answer.headers.get("Location", "")
    assert not session.cookies.get("_token")
    assert list_dags(session, base).status_code == 401
    # Nor does a made-up callback: Airflow refuses a code Keycloak never issued.
    forged = session.get(f"{base}/auth/oauth-authorized/keycloak", params={"code": "forged", "state": "x"},
                         allow_redirects=False, timeout=30)
    assert (forged.status_code, urllib.parse.urlsplit(forged.headers.get("Location", "")).path) == \
        (302, "/auth/login/"), "back to the login page"
    assert not session.cookies.get("_token")
    assert list_dags(session, base).status_code == 401


def test_no_api_access_without_logging_in_and_the_login_page_offers_the_idp(airflow_server):
    session = browser()
    assert list_dags(session, airflow_server.api_url).status_code == 401
    page = session.get(f"{airflow_server.api_url}/auth/login/", timeout=30)
    assert page.status_code == 200 and "keycloak" in page.text
    assert 'name="password"' not in page.text, "no local password form: only the IdP"
