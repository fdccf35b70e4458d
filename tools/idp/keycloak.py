"""Start, stop and inspect the local Keycloak (see tools/idp/__init__.py and README "Log in (SSO)").

Settings (environment):
  IDP_PORT        HTTP port (default 18080)
  IDP_NETNS       run inside network namespace /run/netns/<name> (nsenter --net=...), e.g. the local
                  Kubernetes node's `mlops-k8s-<hash>`, so pods reach the IdP
  IDP_ADDRESS     address to bind (default 127.0.0.1; 10.80.0.10 when IDP_NETNS is set)
  IDP_HOSTNAME    Keycloak's --hostname (a URL); unset: the issuer follows the request's host
  IDP_STATE_DIR   state dir (default <repo>/.run/idp)
  IDP_START_TIMEOUT  seconds to wait for OIDC discovery (default 300)
  IDP_ARGOCD_URL, IDP_AIRFLOW_URL, IDP_GRAFANA_URL  the apps' base URLs for the clients' redirect URIs
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REALM = "mlops"
REALM_FILE = HERE / "realm-mlops.json"
# Confidential clients (a generated secret each) and public ones (no secret: the argocd CLI, PKCE).
CONFIDENTIAL_CLIENTS = ("argocd", "airflow", "grafana")
PUBLIC_CLIENTS = ("argocd-cli",)
CLIENTS = CONFIDENTIAL_CLIENTS + PUBLIC_CLIENTS
# username -> the one group it is in (the realm file is the source; tests read it from there).
USERS = {u["username"]: u["groups"][0] for u in json.loads(REALM_FILE.read_text())["users"]}
NETNS_ADDRESS = "10.80.0.10"


class IdpError(RuntimeError):
    pass


@dataclass(frozen=True)
class Config:
    state_dir: Path
    address: str
    port: int
    netns: str | None
    hostname: str | None
    start_timeout: float
    app_urls: dict[str, str]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        netns = env.get("IDP_NETNS") or None
        return cls(
            state_dir=Path(env.get("IDP_STATE_DIR") or ROOT / ".run" / "idp").resolve(),
            address=env.get("IDP_ADDRESS") or (NETNS_ADDRESS if netns else "127.0.0.1"),
            port=int(env.get("IDP_PORT") or 18080),
            netns=netns,
            hostname=env.get("IDP_HOSTNAME") or None,
            start_timeout=float(env.get("IDP_START_TIMEOUT") or 300),
            app_urls={
                "IDP_ARGOCD_URL": env.get("IDP_ARGOCD_URL") or "https://127.0.0.1:8443",
                "IDP_AIRFLOW_URL": env.get("IDP_AIRFLOW_URL") or "http://127.0.0.1:8080",
                "IDP_GRAFANA_URL": env.get("IDP_GRAFANA_URL") or "http://127.0.0.1:3000",
            },
        )

    @property
    def home(self) -> Path:
        return self.state_dir / "keycloak"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "idp.env"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "keycloak.log"

    @property
    def base_url(self) -> str:
        return (self.hostname or f"http://{self.address}:{self.port}").rstrip("/")

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{REALM}"

    @property
    def netns_path(self) -> str | None:
        return f"/run/netns/{self.netns}" if self.netns else None

    def in_netns(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net={self.netns_path}", "--", *argv] if self.netns else argv


# --- processes ------------------------------------------------------------------------------

def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def our_processes(cfg: Config) -> list[int]:
    """PIDs whose command line is a Keycloak of this state dir: the JVM (kc.home.dir) or kc.sh."""
    home = str(cfg.home)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for arg in _cmdline(int(entry.name)):
            if arg.startswith("-Dkc.home.dir="):
                path = os.path.normpath(arg.removeprefix("-Dkc.home.dir="))
                if path == home:
                    found.append(int(entry.name))
                    break
            elif arg == f"{home}/bin/kc.sh":
                found.append(int(entry.name))
                break
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- HTTP (run here, or in the namespace through `python -m tools.idp probe|configure`) --------

def http_json(url: str, data: dict | None = None, token: str | None = None, method: str | None = None,
              body: object = None, timeout: float = 10) -> tuple[int, object]:
    headers = {"Accept": "application/json"}
    payload = None
    if data is not None:
        payload = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=payload, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback/netns only)
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        try:
            return err.code, json.loads(text)
        except ValueError:
            return err.code, text


def discovery(base_url: str) -> dict | None:
    try:
        status, doc = http_json(f"{base_url}/realms/{REALM}/.well-known/openid-configuration", timeout=3)
    except (OSError, ValueError):
        return None
    return doc if status == 200 and isinstance(doc, dict) else None


def configure(base_url: str, admin_user: str, admin_password: str) -> None:
    """What a realm import cannot add without replacing Keycloak's built-in client scopes (a realm
    file that lists `clientScopes` gets only those: `profile`/`email` would be gone and Argo CD's
    `openid profile email groups` refused as invalid_scope): the `groups` scope, default on every
    client of ours, public ones included (the argocd CLI asks for the same scopes). Its mapper puts
    group names (full path off) in ID token, access token and userinfo."""
    status, tok = http_json(f"{base_url}/realms/master/protocol/openid-connect/token",
                            data={"grant_type": "password", "client_id": "admin-cli",
                                  "username": admin_user, "password": admin_password})
    if status != 200:
        raise IdpError(f"admin login to {base_url} failed: {status} {tok}")
    token = tok["access_token"]
    admin = f"{base_url}/admin/realms/{REALM}"
    scope = json.loads((HERE / "groups-scope.json").read_text())
    _, existing = http_json(f"{admin}/client-scopes", token=token)
    if not any(s["name"] == scope["name"] for s in existing):
        status, out = http_json(f"{admin}/client-scopes", token=token, body=scope, method="POST")
        if status != 201:
            raise IdpError(f"creating client scope groups: {status} {out}")
        _, existing = http_json(f"{admin}/client-scopes", token=token)
    scope_id = next(s["id"] for s in existing if s["name"] == scope["name"])
    for client_id in CLIENTS:
        _, found = http_json(f"{admin}/clients?clientId={client_id}", token=token)
        if not found:
            raise IdpError(f"client {client_id} missing from realm {REALM} after import")
        status, out = http_json(f"{admin}/clients/{found[0]['id']}/default-client-scopes/{scope_id}",
                                token=token, method="PUT")
        if status not in (200, 204):
            raise IdpError(f"adding scope groups to client {client_id}: {status} {out}")


def _run_here_or_in_netns(cfg: Config, args: list[str], env: dict[str, str] | None = None) -> int:
    """Run `python -m tools.idp <args>` (a probe or the admin calls) where the server listens."""
    argv = cfg.in_netns([sys.executable, "-m", "tools.idp", *args])
    return subprocess.run(argv, cwd=ROOT, env={**os.environ, **(env or {})}, check=False).returncode


def _ready(cfg: Config) -> bool:
    if not cfg.netns:
        return discovery(cfg.base_url) is not None
    return _run_here_or_in_netns(cfg, ["probe", cfg.base_url]) == 0


def _port_taken(cfg: Config) -> bool:
    if cfg.netns:
        return False  # checked by Keycloak itself inside the namespace (it fails to bind and exits)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((cfg.address, cfg.port)) == 0


# --- up / down / status ------------------------------------------------------------------------

def _fetch() -> Path:
    out = subprocess.run([str(HERE / "fetch.sh")], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise IdpError(f"fetching Keycloak failed:\n{out.stderr}")
    sys.stderr.write(out.stderr)
    return Path(out.stdout.strip().splitlines()[-1])


def _install(cfg: Config, dist: Path) -> None:
    """A private copy of the pristine distribution (start-dev writes its build and H2 database
    into its home); reused across restarts when it is the same version, the database never."""
    stamp = cfg.home / ".from"
    if not (stamp.is_file() and stamp.read_text() == str(dist)):
        shutil.rmtree(cfg.home, ignore_errors=True)
        shutil.copytree(dist, cfg.home, symlinks=True)
        stamp.write_text(str(dist))
    shutil.rmtree(cfg.home / "data", ignore_errors=True)
    (cfg.home / "data" / "import").mkdir(parents=True)
    shutil.copy(REALM_FILE, cfg.home / "data" / "import" / REALM_FILE.name)


def _new_secrets() -> dict:
    def token() -> str:
        return secrets.token_urlsafe(24)
    return {
        "admin": {"username": "kc-bootstrap-admin", "password": token()},
        "users": {name: token() for name in USERS},
        "clients": {name: token() for name in CONFIDENTIAL_CLIENTS},
    }


def _placeholders(cfg: Config, creds: dict) -> dict[str, str]:
    """The realm file's ${...} placeholders (Keycloak fills them from its environment at import)."""
    env = dict(cfg.app_urls)
    for name, password in creds["users"].items():
        env[f"IDP_PASSWORD_{name.upper().replace('-', '_')}"] = password
    for name, secret in creds["clients"].items():
        env[f"IDP_CLIENT_SECRET_{name.upper()}"] = secret
    return env


def load_secrets(cfg: Config) -> dict:
    return json.loads(cfg.secrets_file.read_text())


def up(cfg: Config) -> int:
    pids = our_processes(cfg)
    if pids:
        if _wait_ready(cfg, pids, time.monotonic()):
            print(f"idp: already running (pid {', '.join(map(str, pids))}); issuer {cfg.issuer}")
            return 0
        raise IdpError(f"a Keycloak of {cfg.state_dir} runs (pid {pids}) but does not answer; "
                       f"see {cfg.log_file}, or `make idp-down` first")
    if cfg.netns and not Path(cfg.netns_path).exists():
        raise IdpError(f"network namespace {cfg.netns} does not exist ({cfg.netns_path}); start the local "
                       "Kubernetes node first, or unset IDP_NETNS")
    if _port_taken(cfg):
        raise IdpError(f"{cfg.address}:{cfg.port} is in use by another program; set IDP_PORT")
    started = time.monotonic()
    dist = _fetch()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    _install(cfg, dist)
    creds = _new_secrets()
    fd = os.open(cfg.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(creds, out, indent=2)
    env = {**os.environ, **_placeholders(cfg, creds),
           "KC_BOOTSTRAP_ADMIN_USERNAME": creds["admin"]["username"],
           "KC_BOOTSTRAP_ADMIN_PASSWORD": creds["admin"]["password"]}
    env.setdefault("JAVA_OPTS_KC_HEAP", "-XX:MaxRAMPercentage=25 -XX:InitialRAMPercentage=5")
    argv = [str(cfg.home / "bin" / "kc.sh"), "start-dev", "--import-realm",
            f"--http-host={cfg.address}", f"--http-port={cfg.port}"]
    if cfg.hostname:
        argv.append(f"--hostname={cfg.hostname}")
    with open(cfg.log_file, "ab") as log:
        proc = subprocess.Popen(cfg.in_netns(argv), cwd=cfg.state_dir, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    (cfg.state_dir / "keycloak.pid").write_text(f"{proc.pid}\n")
    if not _wait_ready(cfg, [proc.pid], started, proc):
        tail = cfg.log_file.read_text(errors="replace").splitlines()[-15:]
        down(cfg, quiet=True)
        raise IdpError(f"Keycloak did not answer OIDC discovery within {cfg.start_timeout:.0f}s; stopped it. "
                       f"Last lines of {cfg.log_file}:\n" + "\n".join(tail))
    code = _run_here_or_in_netns(cfg, ["configure", cfg.base_url],
                                 env={"IDP_ADMIN_USER": creds["admin"]["username"],
                                      "IDP_ADMIN_PASSWORD": creds["admin"]["password"]})
    if code != 0:
        down(cfg, quiet=True)
        raise IdpError("configuring realm mlops (client scope groups) failed; stopped Keycloak")
    seconds = time.monotonic() - started
    cfg.env_file.write_text(
        f"IDP_ISSUER={cfg.issuer}\nIDP_BASE_URL={cfg.base_url}\nIDP_REALM={REALM}\n"
        f"IDP_NETNS={cfg.netns or ''}\nIDP_SECRETS_FILE={cfg.secrets_file}\nIDP_START_SECONDS={seconds:.1f}\n")
    print(f"idp: Keycloak up in {seconds:.0f}s, issuer {cfg.issuer}"
          + (f" (in netns {cfg.netns})" if cfg.netns else ""))
    print(f"idp: users {', '.join(f'{u} ({g})' for u, g in USERS.items())}; passwords and client secrets "
          f"in {cfg.secrets_file}")
    return 0


def _wait_ready(cfg: Config, pids: list[int], started: float, proc: subprocess.Popen | None = None) -> bool:
    while time.monotonic() - started < cfg.start_timeout:
        if _ready(cfg):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        if proc is None and not any(_alive(p) for p in pids):
            return False
        time.sleep(1)
    return False


def down(cfg: Config, quiet: bool = False) -> int:
    pids = our_processes(cfg)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.5)
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    left = [p for p in our_processes(cfg) if _alive(p)]
    for path in (cfg.secrets_file, cfg.env_file, cfg.state_dir / "keycloak.pid"):
        path.unlink(missing_ok=True)
    shutil.rmtree(cfg.home / "data", ignore_errors=True)
    if left:
        raise IdpError(f"Keycloak processes of {cfg.state_dir} survived SIGKILL: {left}")
    if not quiet:
        print(f"idp: stopped {len(pids)} process(es)" if pids else "idp: nothing was running")
    return 0


def status(cfg: Config) -> int:
    pids = our_processes(cfg)
    if not pids:
        print(f"idp: not running (state {cfg.state_dir})")
        return 3
    ready = _ready(cfg)
    print(f"idp: pid {', '.join(map(str, pids))}, {'answering' if ready else 'NOT answering'} at {cfg.issuer}"
          + (f" (netns {cfg.netns})" if cfg.netns else ""))
    return 0 if ready else 1


def password_grant(base_url: str, client_id: str, client_secret: str, username: str, password: str,
                   scope: str = "openid profile email groups") -> tuple[int, dict]:
    return http_json(f"{base_url}/realms/{REALM}/protocol/openid-connect/token",
                     data={"grant_type": "password", "client_id": client_id, "client_secret": client_secret,
                           "username": username, "password": password, "scope": scope})


def unverified_claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
