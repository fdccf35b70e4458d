"""Who can log in (issue 13), on the local platform: people log in to Argo CD through the local
Keycloak (tools/idp, started by `platform up` in the node's network namespace; clusters/local's
oidc.config), and what their token then lets them do is what argocd-rbac-cm says.

No browser runs here. `requests`, in a thread inside the node's network namespace (where the issuer
http://10.80.0.10:18080 and argocd-server's address https://10.80.0.10:8443 are, as for pods),
plays the browser: argocd-server's /auth/login -> Keycloak's authorize endpoint and login form ->
POST of the credentials -> argocd-server's /auth/callback, which exchanges the code (client secret
from argocd-secret, PKCE) and sets the argocd.token cookie (the ID token). That token goes to the
REST API as a bearer token. Every answer the API gives the data engineer is compared with
`argocd admin settings rbac can data-platform-engineers ...` (the v3.2.11 binary, offline) on the
cluster's live argocd-rbac-cm, and with the table below.

The real CLI too: `argocd login --sso --sso-launch-browser=false` in the node namespace, through the
public client argocd-cli with PKCE: the URL it prints is taken through Keycloak's form to the CLI's
own callback on localhost:8085, then `argocd account` asks the server with the CLI's token."""
from __future__ import annotations

import base64
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.parse
import warnings
from datetime import datetime
from pathlib import Path

import pytest
import requests
import urllib3
import yaml
from conftest import app_state, wait_for

from tests.e2e.keycloak_browser import Browser, fill_login_form
from tools.idp import keycloak
from tools.platform.platform import (
    ARGOCD_NAMESPACE,
    ARGOCD_NODE_PORT,
    ARGOCD_URL,
    IDP_ISSUER,
    OIDC_CLIENT_SECRET_KEY,
    TOOLS_BIN,
    Platform,
)

sys.path.append(str(Path(__file__).resolve().parents[2] / "manifests"))
from argocd_offline import argocd as argocd_offline  # noqa: E402 (tests/manifests, appended above)
from argocd_offline import offline_env  # noqa: E402

pytestmark = pytest.mark.e2e

USER = "data-engineer"
GROUP = "data-platform-engineers"
EMAIL = "data-engineer@mlops-platform.example"
DATA_APP = ("data-platform", "spark-standalone")  # no Sync hooks, nothing a sync would disturb
INFRA_APP = ("platform-infra", "namespaces")
CALLBACK = f"{ARGOCD_URL}/auth/callback"
RETURN_URL = f"{ARGOCD_URL}/applications"
# What the data engineer's token may do, as README "Log in (SSO)" and argocd-rbac-cm say:
# (action, resource, (project, app)) -> allowed. can-i takes only plain actions (not action/...).
TABLE = [
    ("get", "applications", DATA_APP, True),
    ("sync", "applications", DATA_APP, True),
    ("delete", "applications", DATA_APP, False),
    ("update", "applications", DATA_APP, False),
    ("override", "applications", DATA_APP, False),
    ("get", "logs", DATA_APP, True),
    ("get", "applications", INFRA_APP, True),  # policy.default: role:readonly
    ("sync", "applications", INFRA_APP, False),
    ("delete", "applications", INFRA_APP, False),
    ("update", "applications", INFRA_APP, False),
    ("override", "applications", INFRA_APP, False),
]

warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)  # argocd-server's own certificate


def rbac_object(app: tuple[str, str]) -> str:
    return "/".join(app)


# --- the browser and the API, inside the node namespace ---------------------------------------------

def browser() -> requests.Session:
    session = Browser()
    session.verify = False  # argocd-server's self-signed certificate (Keycloak is plain http here)
    session.trust_env = False  # no proxy from the environment between us and the node namespace
    return session


def api(platform: Platform, method: str, path: str, token: str | None = None, body: dict | None = None,
        params: dict | None = None) -> tuple[int, object]:
    """One REST call to argocd-server from inside the node namespace; (status, JSON or text)."""
    def call():
        headers = {"Content-Type": "application/json"} if method != "GET" else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        with browser() as session:
            response = session.request(method, f"{ARGOCD_URL}{path}", headers=headers, json=body, params=params,
                                       timeout=60)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text
    return platform.in_node_namespace(call)


def claims_of(token: str) -> dict:
    return keycloak.unverified_claims(token)


def auth_cookie(session: requests.Session) -> str | None:
    """argocd.token as Argo CD writes it: one cookie, or `<n>:<first part>` plus argocd.token-1.. ."""
    first = session.cookies.get("argocd.token")
    if not first:
        return None
    count, sep, rest = first.partition(":")
    if not (sep and count.isdigit()):
        return first
    return rest + "".join(session.cookies.get(f"argocd.token-{i}") or "" for i in range(1, int(count)))


def browser_login(platform: Platform, username: str, password: str) -> dict:
    """The web UI's login, step by step; returns what each step answered and the token (if any)."""
    def flow() -> dict:
        session = browser()
        start = session.get(f"{ARGOCD_URL}/auth/login", params={"return_url": RETURN_URL},
                            allow_redirects=False, timeout=60)
        assert start.status_code == 303, f"/auth/login: {start.status_code} {start.text[:500]}"
        authorize = start.headers["Location"]
        split = urllib.parse.urlsplit(authorize)
        query = dict(urllib.parse.parse_qsl(split.query))
        assert f"{split.scheme}://{split.netloc}{split.path}" == f"{IDP_ISSUER}/protocol/openid-connect/auth", authorize
        assert (query["client_id"], query["redirect_uri"], query["response_type"]) == ("argocd", CALLBACK, "code")
        assert set(query["scope"].split()) == {"openid", "profile", "email", "groups"}
        assert query["code_challenge_method"] == "S256" and query["code_challenge"], "PKCE"
        answer = fill_login_form(session, authorize, username, password)
        out = {"answer": answer, "token": None, "callback": None}
        if answer.status_code != 302:
            return out
        location = answer.headers["Location"]
        assert location.startswith(f"{CALLBACK}?"), location
        done = session.get(location, allow_redirects=False, timeout=60)
        out["callback"] = done
        out["token"] = auth_cookie(session)
        return out
    return platform.in_node_namespace(flow)


class Login:
    """The data engineer's token, logged in again when it is about to expire (Keycloak's ID tokens
    live five minutes: accessTokenLifespan in the realm file)."""

    def __init__(self, platform: Platform, password: str):
        self.platform = platform
        self.password = password
        self._token: str | None = None
        self.first: dict | None = None

    def token(self) -> str:
        if self._token is None or claims_of(self._token)["exp"] - time.time() < 90:
            result = browser_login(self.platform, USER, self.password)
            assert result["answer"].status_code == 302, \
                f"Keycloak did not send the browser back: {result['answer'].status_code} {result['answer'].text[:800]}"
            done = result["callback"]
            assert done.status_code == 303, f"/auth/callback: {done.status_code} {done.text[:1000]}"
            assert done.headers["Location"] == RETURN_URL
            assert result["token"], "argocd-server set no argocd.token cookie"
            self.first = self.first or result
            self._token = result["token"]
        return self._token


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idp_secrets(platform) -> dict:
    cfg = platform.idp_config()
    assert keycloak.our_processes(cfg), f"no Keycloak of {cfg.state_dir} runs: `platform up` starts it"
    return keycloak.load_secrets(cfg)


@pytest.fixture(scope="module")
def sso_ready(platform, idp_secrets) -> dict:
    """argocd-server has loaded clusters/local's oidc.config (it restarts itself when the config or
    the secret it references changes) and argocd-secret holds Keycloak's argocd client secret."""
    def settings():
        status, body = api(platform, "GET", "/api/v1/settings")
        oidc = body.get("oidcConfig") if status == 200 and isinstance(body, dict) else None
        return oidc if oidc and oidc.get("issuer") == IDP_ISSUER else None
    oidc = wait_for(settings, f"argocd-server at {ARGOCD_URL} to offer the local Keycloak", 300, 3)

    def merged_secret():
        out = platform.kubectl("-n", ARGOCD_NAMESPACE, "get", "secret", "argocd-secret", "-o",
                               "jsonpath={.data.oidc\\.clientSecret}", check=False).stdout
        return base64.b64decode(out).decode() if out else ""
    wait_for(lambda: merged_secret() == idp_secrets["clients"]["argocd"],
             "argocd-secret's oidc.clientSecret to be Keycloak's argocd client secret", 180, 3)
    return oidc


@pytest.fixture(scope="module")
def login(platform, idp_secrets, sso_ready) -> Login:
    return Login(platform, idp_secrets["users"][USER])


@pytest.fixture(scope="module")
def live_policy(platform, tmp_path_factory) -> tuple[dict, Path]:
    """The cluster's argocd-rbac-cm, written for `argocd admin settings rbac can --policy-file`."""
    cm = json.loads(platform.kubectl("-n", ARGOCD_NAMESPACE, "get", "configmap", "argocd-rbac-cm", "-o", "json").stdout)
    work = tmp_path_factory.mktemp("argocd-rbac")
    path = work / "argocd-rbac-cm.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm["metadata"]["name"]},
                                    "data": cm["data"]}))
    return offline_env(work), path


def policy_says(live_policy, action: str, resource: str, app: tuple[str, str]) -> bool:
    env, path = live_policy
    out = argocd_offline(env, "admin", "settings", "rbac", "can", GROUP, action, resource, rbac_object(app),
                         "--policy-file", str(path))
    answer = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert (out.returncode, answer) in ((0, "Yes"), (1, "No")), f"rbac can: {out.returncode} {out.stdout} {out.stderr}"
    return answer == "Yes"


# --- the tests ----------------------------------------------------------------------------------------

def test_the_local_keycloak_client_secret_is_what_argocd_uses(platform, idp_secrets, sso_ready):
    """Keycloak's generated argocd secret went into the local SKM, External Secrets merged it into
    argocd-secret (checked in sso_ready), and argocd-server offers the local realm's clients."""
    store = json.loads(platform.skm_store.read_text())
    assert store["secrets"][OIDC_CLIENT_SECRET_KEY] == idp_secrets["clients"]["argocd"]
    assert (sso_ready["clientID"], sso_ready["cliClientID"]) == ("argocd", "argocd-cli")
    assert sso_ready.get("enablePKCEAuthentication") is True


def test_without_a_token_the_api_says_401(platform, sso_ready):
    status, body = api(platform, "GET", "/api/v1/applications")
    assert status == 401, body
    forged = ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                      for part in ({"alg": "RS256", "typ": "JWT"}, {"iss": IDP_ISSUER, "sub": "x", "groups": [GROUP]}))
    status, body = api(platform, "GET", "/api/v1/applications", token=f"{forged}.bm90LXNpZ25lZA")
    assert status == 401, f"an unsigned token with the right claims got {status}: {body}"


def test_a_wrong_password_gets_no_token(platform, idp_secrets, sso_ready):
    result = browser_login(platform, USER, "not-" + idp_secrets["users"][USER])
    assert result["answer"].status_code == 200, "Keycloak shows its form again"
    assert "Invalid username or password" in result["answer"].text
    assert result["token"] is None and result["callback"] is None


def test_the_data_engineer_logs_in_through_keycloak(platform, login):
    token = login.token()
    claims = claims_of(token)
    assert claims["iss"] == IDP_ISSUER and claims["aud"] in ("argocd", ["argocd"]), claims
    assert claims["groups"] == [GROUP] and claims["preferred_username"] == USER
    status, info = api(platform, "GET", "/api/v1/session/userinfo", token=token)
    assert status == 200, info
    assert (info["loggedIn"], info["username"], info["iss"], info["groups"]) == (True, EMAIL, IDP_ISSUER, [GROUP])
    status, apps = api(platform, "GET", "/api/v1/applications", token=token)
    assert status == 200, apps
    projects = {a["spec"]["project"] for a in apps["items"]}
    assert {"data-platform", "platform-infra"} <= projects, "everyone may look (role:readonly)"


@pytest.mark.parametrize("action, resource, app, allowed", TABLE,
                         ids=[f"{a}-{r}-{rbac_object(o)}" for a, r, o, _ in TABLE])
def test_the_server_answers_as_the_policy_table_says(platform, login, live_policy, action, resource, app, allowed):
    status, body = api(platform, "GET", f"/api/v1/account/can-i/{resource}/{action}/{rbac_object(app)}",
                       token=login.token())
    assert status == 200, body
    server = body["value"] == "yes"
    assert server == policy_says(live_policy, action, resource, app), \
        f"argocd-server says {body['value']}, `rbac can` on the live argocd-rbac-cm says otherwise"
    assert server == allowed, f"{GROUP} {action} {resource} {rbac_object(app)}: {body['value']}"


def idle(platform: Platform, name: str) -> bool:
    app = app_state(platform, name)
    return "operation" not in app and ((app.get("status") or {}).get("operationState") or {}).get("phase") != "Running"


def test_the_data_engineer_may_sync_a_data_platform_application(platform, login, live_policy):
    project, name = DATA_APP
    assert policy_says(live_policy, "sync", "applications", DATA_APP)
    wait_for(lambda: idle(platform, name), f"{name} to have no sync running", 300, 2)
    asked = time.time()

    def sync():
        status, body = api(platform, "POST", f"/api/v1/applications/{name}/sync", token=login.token(),
                           body={"name": name, "prune": False})
        if status != 200 and "another operation is already in progress" in json.dumps(body):
            return None  # an automated sync came first: ask again when it is done
        return status, body
    status, body = wait_for(sync, f"argocd-server to take the sync of {name}", 180, 5)
    assert status == 200, f"sync of {name} refused: {status} {body}"

    def ours_done():
        operation = (app_state(platform, name).get("status") or {}).get("operationState") or {}
        if operation.get("operation", {}).get("initiatedBy", {}).get("username") != EMAIL:
            return None
        started = datetime.fromisoformat(operation["startedAt"].replace("Z", "+00:00")).timestamp()
        if started < asked - 5:
            return None  # an earlier sync by the same user (a re-run of this suite)
        return operation if operation.get("phase") in ("Succeeded", "Failed", "Error") else None
    operation = wait_for(ours_done, f"the data engineer's sync of {name} to finish", 300, 2)
    assert operation["phase"] == "Succeeded", operation.get("message")


def test_the_data_engineer_may_not_delete_it(platform, login, live_policy):
    project, name = DATA_APP
    assert not policy_says(live_policy, "delete", "applications", DATA_APP)
    # Asked first without side effects: were it allowed, the DELETE below would really delete.
    status, body = api(platform, "GET", f"/api/v1/account/can-i/applications/delete/{project}/{name}",
                       token=login.token())
    assert (status, body.get("value")) == (200, "no"), body
    status, body = api(platform, "DELETE", f"/api/v1/applications/{name}", token=login.token(),
                       params={"cascade": "false"})
    assert status == 403 and "permission denied" in json.dumps(body), f"{status} {body}"
    assert app_state(platform, name)["metadata"].get("deletionTimestamp") is None


def test_the_data_engineer_may_change_nothing_in_platform_infra(platform, login, live_policy):
    project, name = INFRA_APP
    for action in ("sync", "delete", "update"):
        assert not policy_says(live_policy, action, "applications", INFRA_APP), action
    status, body = api(platform, "GET", f"/api/v1/account/can-i/applications/delete/{project}/{name}",
                       token=login.token())
    assert (status, body.get("value")) == (200, "no"), body
    status, body = api(platform, "POST", f"/api/v1/applications/{name}/sync", token=login.token(),
                       body={"name": name, "prune": False})
    assert status == 403 and "permission denied" in json.dumps(body), f"sync: {status} {body}"
    status, body = api(platform, "DELETE", f"/api/v1/applications/{name}", token=login.token(),
                       params={"cascade": "false"})
    assert status == 403 and "permission denied" in json.dumps(body), f"delete: {status} {body}"
    app = app_state(platform, name)
    assert app["metadata"].get("deletionTimestamp") is None
    operation = (app.get("status") or {}).get("operationState") or {}
    assert operation.get("operation", {}).get("initiatedBy", {}).get("username") != EMAIL


# --- the real CLI: argocd login --sso (client argocd-cli, PKCE) ---------------------------------------

def node_argocd(platform: Platform, *args: str, config: Path) -> list[str]:
    """The real CLI (v3.2.11, .tools/bin) inside the node namespace, with its own config file."""
    return ["nsenter", f"--net=/run/netns/{platform.lay.netns}", "--", str(TOOLS_BIN / "argocd"), *args,
            "--config", str(config)]


def test_the_cli_logs_in_with_sso_through_the_public_client(platform, idp_secrets, sso_ready, tmp_path):
    config = tmp_path / "argocd-config"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    server = ARGOCD_URL.removeprefix("https://")
    assert server.endswith(f":{ARGOCD_NODE_PORT}")
    cli = subprocess.Popen(node_argocd(platform, "login", server, "--sso", "--sso-launch-browser=false", "--insecure",
                                       "--skip-test-tls", config=config),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in cli.stdout], daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert cli.poll() is None, f"argocd login exited {cli.returncode}: {''.join(seen)}"
                continue
            seen.append(line)
            if "flow login: " in line:
                url = line.split("flow login: ", 1)[1].strip()
        assert url, f"argocd login printed no login URL: {''.join(seen)}"
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert (query["client_id"], query["redirect_uri"]) == ("argocd-cli", "http://localhost:8085/auth/callback")
        assert query["code_challenge_method"] == "S256"

        def browse() -> requests.Response:
            session = browser()
            answer = fill_login_form(session, url, USER, idp_secrets["users"][USER])
            assert answer.status_code == 302, f"Keycloak: {answer.status_code} {answer.text[:800]}"
            callback = answer.headers["Location"]
            assert callback.startswith("http://localhost:8085/auth/callback?"), callback
            deadline = time.monotonic() + 15
            while True:  # the CLI starts listening just after it prints the URL
                try:
                    return session.get(callback, timeout=60)
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        done = platform.in_node_namespace(browse)
        assert done.status_code == 200 and "Authentication successful" in done.text, done.text[:800]
        assert cli.wait(timeout=60) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    reader.join(timeout=10)  # the rest of its output, up to its end
    while not lines.empty():
        seen.append(lines.get())
    assert f"'{EMAIL}' logged in successfully" in "".join(seen), "".join(seen)

    def run(*args: str) -> str:
        out = subprocess.run(node_argocd(platform, *args, config=config), capture_output=True, text=True, env=env,
                             timeout=120)
        assert out.returncode == 0, f"argocd {' '.join(args)}: {out.stdout}{out.stderr}"
        return out.stdout.strip()
    info = json.loads(run("account", "get-user-info", "-o", "json"))
    assert (info["loggedIn"], info["username"], info["iss"], info["groups"]) == (True, EMAIL, IDP_ISSUER, [GROUP])
    assert run("account", "can-i", "sync", "applications", rbac_object(DATA_APP)) == "yes"
    assert run("account", "can-i", "delete", "applications", rbac_object(DATA_APP)) == "no"
    assert run("account", "can-i", "sync", "applications", rbac_object(INFRA_APP)) == "no"
