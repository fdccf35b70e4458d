"""The realm's two Argo CD clients, used the way Argo CD uses them in clusters/local (the oidc.config
of its laptop component), against the suite's real Keycloak (conftest.py):

- `argocd` (confidential, PKCE S256 required): the authorization-code flow argocd-server runs for a
  browser login (/auth/login -> Keycloak's form -> /auth/callback) with the scopes and the claims
  parameter the local argocd-cm asks for; the code is exchanged with the client secret and the PKCE
  verifier, as argocd-server does with `enablePKCEAuthentication`.
- `argocd-cli` (public, PKCE S256 required; oidc.config `cliClientID`): what `argocd login --sso`
  does: redirect to http://localhost:8085/auth/callback (the CLI's own listener), the code exchanged
  with the verifier and no secret.

Each ID token is checked against the realm's JWKS and carries the user's group (the `groups` client
scope, default on both clients). Nothing listens on the redirect URIs here: the test reads the code
from Keycloak's redirect, which is all a browser would hand over."""
from __future__ import annotations

import json
import secrets
import sys
import urllib.parse

import jwt
import pytest
import requests
import yaml

from tests.e2e.keycloak_browser import Browser, fill_login_form, pkce_pair
from tools.idp import keycloak
from tools.idp.keycloak import USERS, http_json, password_grant

pytestmark = pytest.mark.e2e

CLI_REDIRECT = "http://localhost:8085/auth/callback"  # argocd login --sso, default --sso-port


def local_oidc_config() -> dict:
    """clusters/local's argocd-cm oidc.config as its argocd Application renders it."""
    sys.path.insert(0, str(keycloak.ROOT / "tests" / "manifests"))
    from platform_render import app, configmap_data
    return yaml.safe_load(configmap_data(app("argocd", "local"), "argocd-cm", "argocd")["oidc.config"])


def authorize_url(issuer: str, client_id: str, redirect_uri: str, scopes: list[str], state: str,
                  challenge: str | None, **extra: str) -> str:
    """The authorize request as Go's oauth2 AuthCodeURL builds it for Argo CD (server and CLI)."""
    query = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
             "scope": " ".join(scopes), "state": state, **extra}
    if challenge:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{issuer}/protocol/openid-connect/auth?{urllib.parse.urlencode(query)}"


def claims_parameter(oidc: dict) -> str:
    """Argo CD's `claims` parameter from requestedIDTokenClaims (util/oidc: {"id_token": {...}})."""
    return json.dumps({"id_token": oidc["requestedIDTokenClaims"]})


def code_from(answer: requests.Response, redirect_uri: str, state: str) -> str:
    assert answer.status_code == 302, f"Keycloak did not redirect back: {answer.status_code} {answer.text[:800]}"
    location = answer.headers["Location"]
    assert location.startswith(f"{redirect_uri}?"), location
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query.get("state") == state and "error" not in query, query
    return query["code"]


def verified_id_token(cfg, token: dict, client_id: str) -> dict:
    jwks = jwt.PyJWKClient(keycloak.discovery(cfg.base_url)["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(token["id_token"]).key
    return jwt.decode(token["id_token"], key, algorithms=["RS256"], audience=client_id, issuer=cfg.issuer)


def exchange(cfg, code: str, redirect_uri: str, client_id: str, verifier: str | None,
             secret: str | None = None) -> tuple[int, dict]:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id}
    if secret:
        data["client_secret"] = secret
    if verifier:
        data["code_verifier"] = verifier
    return http_json(f"{cfg.issuer}/protocol/openid-connect/token", data=data)


def test_the_local_argocd_cm_names_the_realms_clients():
    oidc = local_oidc_config()
    assert (oidc["clientID"], oidc["cliClientID"]) == ("argocd", "argocd-cli")
    assert oidc["enablePKCEAuthentication"] is True, "the argocd client requires PKCE (S256)"
    realm = json.loads(keycloak.REALM_FILE.read_text())
    clients = {c["clientId"]: c for c in realm["clients"]}
    assert clients["argocd"]["publicClient"] is False and clients["argocd-cli"]["publicClient"] is True
    assert clients["argocd-cli"]["redirectUris"] == [CLI_REDIRECT]
    for name in ("argocd", "argocd-cli"):
        assert clients[name]["attributes"]["pkce.code.challenge.method"] == "S256", name


@pytest.mark.parametrize("user", sorted(USERS))
def test_argocd_server_login_flow_gives_an_id_token_with_the_group(server, creds, user):
    cfg, _ = server
    oidc = local_oidc_config()
    redirect = f"{cfg.app_urls['IDP_ARGOCD_URL']}/auth/callback"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(18)
    url = authorize_url(cfg.issuer, oidc["clientID"], redirect, oidc["requestedScopes"], state, challenge,
                        claims=claims_parameter(oidc))
    code = code_from(fill_login_form(Browser(), url, user, creds["users"][user]), redirect, state)
    status, token = exchange(cfg, code, redirect, "argocd", verifier, creds["clients"]["argocd"])
    assert status == 200, token
    claims = verified_id_token(cfg, token, "argocd")
    assert claims["preferred_username"] == user
    assert claims["groups"] == [USERS[user]]


@pytest.mark.parametrize("user", sorted(USERS))
def test_argocd_cli_login_flow_is_public_with_pkce(server, creds, user):
    cfg, _ = server
    oidc = local_oidc_config()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(18)
    # The CLI adds offline_access when the provider lists it (pkg/apiclient OIDCConfig), and
    # access_type=offline (cmd/argocd login).
    scopes = [*oidc["requestedScopes"], "offline_access"]
    url = authorize_url(cfg.issuer, oidc["cliClientID"], CLI_REDIRECT, scopes, state, challenge,
                        access_type="offline", claims=claims_parameter(oidc))
    code = code_from(fill_login_form(Browser(), url, user, creds["users"][user]), CLI_REDIRECT, state)
    status, token = exchange(cfg, code, CLI_REDIRECT, "argocd-cli", verifier)
    # Refused with "Offline tokens not allowed for the user or client" while the realm file's users
    # lacked the realm's default roles (offline_access among them): imported users get none.
    assert status == 200, token
    claims = verified_id_token(cfg, token, "argocd-cli")
    assert claims["preferred_username"] == user
    assert claims["groups"] == [USERS[user]]
    assert keycloak.unverified_claims(token["refresh_token"])["typ"] == "Offline", "what the CLI keeps to refresh"


def test_argocd_cli_needs_the_pkce_verifier_and_its_redirect(server, creds):
    cfg, _ = server
    oidc = local_oidc_config()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(18)
    url = authorize_url(cfg.issuer, "argocd-cli", CLI_REDIRECT, oidc["requestedScopes"], state, challenge)
    code = code_from(fill_login_form(Browser(), url, "data-engineer", creds["users"]["data-engineer"]),
                     CLI_REDIRECT, state)
    status, body = exchange(cfg, code, CLI_REDIRECT, "argocd-cli", None)
    assert (status, body["error"]) == (400, "invalid_grant"), "a code without its verifier is useless"
    # Without a challenge Keycloak does not show the form at all (the client requires PKCE) ...
    answer = Browser().get(authorize_url(cfg.issuer, "argocd-cli", CLI_REDIRECT, oidc["requestedScopes"], state,
                                         None), allow_redirects=False, timeout=30)
    location = answer.headers.get("Location", "")
    assert answer.status_code == 400 or "error=invalid_request" in location, (answer.status_code, location)
    assert 'id="kc-form-login"' not in answer.text
    # ... nor for a redirect URI the client does not list.
    answer = Browser().get(authorize_url(cfg.issuer, "argocd-cli", "http://localhost:9999/auth/callback",
                                         oidc["requestedScopes"], state, challenge),
                           allow_redirects=False, timeout=30)
    assert answer.status_code == 400 and "Location" not in answer.headers, answer.status_code
    # A public client has no password grant (directAccessGrantsEnabled off).
    status, body = password_grant(cfg.base_url, "argocd-cli", "", "data-engineer", creds["users"]["data-engineer"])
    assert body["error"] == "unauthorized_client", (status, body)
