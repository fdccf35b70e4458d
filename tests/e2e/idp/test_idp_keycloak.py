"""The local OIDC IdP for real: Keycloak started by tools/idp (the code behind `make idp-up`), OIDC
discovery, a password grant per user with the groups claim asserted, refused credentials, and the
scopes and claims our rendered argocd-cm asks for accepted by the real server; start/stop idempotent
and nothing left running.

The server is the suite's (conftest.py): own state dir and a free port."""
from __future__ import annotations

import sys

import jwt
import pytest
import yaml
from idp_e2e_util import idp

from tools.idp import keycloak
from tools.idp.keycloak import REALM, USERS, our_processes, password_grant, unverified_claims

pytestmark = pytest.mark.e2e

ROOT = keycloak.ROOT


def test_discovery_names_the_realm_on_loopback(server):
    cfg, _ = server
    doc = keycloak.discovery(cfg.base_url)
    assert doc["issuer"] == f"http://127.0.0.1:{cfg.port}/realms/{REALM}"
    assert "groups" in doc["scopes_supported"]
    assert {"authorization_code", "password"} <= set(doc["grant_types_supported"])
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        assert doc[endpoint].startswith(f"http://127.0.0.1:{cfg.port}/"), endpoint


def test_secrets_are_generated_per_start_and_private(server, creds):
    cfg, _ = server
    assert cfg.secrets_file.stat().st_mode & 0o077 == 0, "secrets.json must be readable by its owner only"
    values = [*creds["users"].values(), *creds["clients"].values()]
    assert len(set(values)) == len(values) and all(len(v) >= 24 for v in values)
    realm_text = keycloak.REALM_FILE.read_text()
    assert not any(v in realm_text for v in values), "a generated secret leaked into the realm file"


@pytest.mark.parametrize("client", keycloak.CONFIDENTIAL_CLIENTS)
@pytest.mark.parametrize("user", sorted(USERS))
def test_password_grant_gives_a_signed_id_token_with_the_users_group(server, creds, client, user):
    cfg, _ = server
    status, token = password_grant(cfg.base_url, client, creds["clients"][client], user, creds["users"][user])
    assert status == 200, token
    jwks = jwt.PyJWKClient(keycloak.discovery(cfg.base_url)["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(token["id_token"]).key
    claims = jwt.decode(token["id_token"], key, algorithms=["RS256"], audience=client, issuer=cfg.issuer)
    assert claims["preferred_username"] == user
    assert claims["groups"] == [USERS[user]], "group names without the leading / (full path off)"
    assert unverified_claims(token["access_token"])["groups"] == [USERS[user]]


def test_wrong_password_is_refused(server, creds):
    cfg, _ = server
    status, body = password_grant(cfg.base_url, "argocd", creds["clients"]["argocd"], "data-engineer", "not-it")
    assert (status, body["error"]) == (401, "invalid_grant")
    status, body = password_grant(cfg.base_url, "argocd", creds["clients"]["argocd"], "nobody", "x")
    assert (status, body["error"]) == (401, "invalid_grant")


def test_wrong_client_secret_is_refused(server, creds):
    cfg, _ = server
    status, body = password_grant(cfg.base_url, "argocd", "not-the-secret", "data-engineer",
                                  creds["users"]["data-engineer"])
    assert (status, body["error"]) == (401, "unauthorized_client")


def test_the_scopes_our_argocd_cm_requests_are_accepted(server, creds):
    """What apps/argocd (dev overlay) configures: its requestedScopes go to the real server, and the
    claim it names in requestedIDTokenClaims and argocd-rbac-cm's scopes is in the ID token."""
    sys.path.insert(0, str(ROOT / "tests" / "manifests"))
    from platform_render import configmap_data, render
    objects = render("apps/argocd/overlays/dev")
    oidc = yaml.safe_load(configmap_data(objects, "argocd-cm", "argocd")["oidc.config"])
    rbac_scopes = yaml.safe_load(configmap_data(objects, "argocd-rbac-cm", "argocd")["scopes"])
    cfg, _ = server
    status, token = password_grant(cfg.base_url, oidc["clientID"], creds["clients"]["argocd"], "platform-admin",
                                   creds["users"]["platform-admin"], scope=" ".join(oidc["requestedScopes"]))
    assert status == 200, token
    claims = unverified_claims(token["id_token"])
    for claim in [*oidc["requestedIDTokenClaims"], *rbac_scopes]:
        assert claim in claims, f"ID token lacks claim {claim}"


def test_up_again_is_a_no_op_and_status_answers(server):
    cfg, env = server
    before = our_processes(cfg)
    out = idp("up", env)
    assert out.returncode == 0 and "already running" in out.stdout, out.stdout + out.stderr
    assert our_processes(cfg) == before
    assert idp("status", env).returncode == 0


def test_a_second_state_dir_on_a_taken_port_is_refused(server, tmp_path):
    cfg, env = server
    out = idp("up", {**env, "IDP_STATE_DIR": str(tmp_path / "other")})
    assert out.returncode == 1 and "in use by another program" in out.stderr, out.stdout + out.stderr
    assert not (tmp_path / "other").exists(), "refused before copying anything"
