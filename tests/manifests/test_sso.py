"""Log in through the IdP (README "Log in (SSO)"), checked on the rendered objects of every cluster:
Argo CD's oidc.config (issuer per cluster, secret only by reference, the groups claim the RBAC
matches; clusters/local's against the local Keycloak the platform starts), Grafana's generic OAuth,
and Airflow's FAB OAuth component in the dev and prod overlays (the provider in the lock and the
image; clusters/local stays on the simple auth manager)."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from platform_render import ROOT, app, configmap_data, containers, env_map, find, one, overlay, render, synced_apps

from tools.idp import keycloak
from tools.platform import platform as local_platform

# The company IdP's realm per overlay (clusters/local syncs dev's; its own IdP is tools/idp).
ISSUERS = {"dev": "https://sso.example.internal/realms/mlops-dev",
           "prod": "https://sso.example.internal/realms/mlops-prod"}
GROUPS = {"mlops-platform-admins", "data-platform-engineers"}


def argocd_issuer(env: str) -> str:
    """Whom each cluster's Argo CD trusts: the company realm of its overlay; clusters/local the local
    Keycloak (clusters/local/laptop/argocd-cm-oidc.yaml), which `platform up` runs in the node namespace."""
    return local_platform.IDP_ISSUER if env == "local" else ISSUERS[overlay(env)]


def oidc_config(env: str) -> dict:
    return yaml.safe_load(configmap_data(app("argocd", env), "argocd-cm", "argocd")["oidc.config"])


def test_argocd_logs_in_through_the_clusters_idp(env):
    oidc = oidc_config(env)
    assert oidc["issuer"] == argocd_issuer(env)
    assert oidc["clientID"] == "argocd"
    assert {"openid", "groups"} <= set(oidc["requestedScopes"])
    assert "groups" in oidc["requestedIDTokenClaims"]
    data = configmap_data(app("argocd", env), "argocd-cm", "argocd")
    assert data["admin.enabled"] == "false", "people log in through SSO; the local admin stays off"
    assert data["url"].startswith("https://"), "Argo CD needs its external URL for the OIDC callback"


def test_dev_and_prod_use_different_realms():
    assert oidc_config("dev")["issuer"] != oidc_config("prod")["issuer"]


def test_local_argocd_logs_in_through_the_keycloak_the_platform_starts(tmp_path):
    """clusters/local's oidc.config names what tools/platform starts and tools/idp's realm holds:
    the issuer (node address, port, realm), argocd-server's local address as Argo CD's `url` (so its
    redirect URI, url + /auth/callback, is the one the realm's argocd client allows once the platform
    fills IDP_ARGOCD_URL), and the public CLI client with PKCE."""
    data = configmap_data(app("argocd", "local"), "argocd-cm", "argocd")
    oidc = yaml.safe_load(data["oidc.config"])
    assert oidc["issuer"] == local_platform.IDP_ISSUER
    assert local_platform.IDP_PORT == keycloak.Config.from_env({}).port, "the port tools/idp uses by default"
    assert local_platform.IDP_ISSUER.endswith(f"/realms/{keycloak.REALM}")
    assert data["url"] == local_platform.ARGOCD_URL
    realm = {c["clientId"]: c for c in json_file(keycloak.REALM_FILE)["clients"]}
    assert realm["argocd"]["redirectUris"] == ["${IDP_ARGOCD_URL}/auth/callback"]
    assert realm["argocd"]["publicClient"] is False
    assert oidc["cliClientID"] == "argocd-cli" and realm["argocd-cli"]["publicClient"] is True
    assert realm["argocd-cli"]["redirectUris"] == ["http://localhost:8085/auth/callback"], "argocd login --sso"
    assert oidc["enablePKCEAuthentication"] is True
    assert {realm[c]["attributes"]["pkce.code.challenge.method"] for c in ("argocd", "argocd-cli")} == {"S256"}
    assert {"argocd", "argocd-cli"} <= set(keycloak.CLIENTS), "both get the groups client scope (its mapper)"
    # The platform's Keycloak settings fill the realm's placeholder with that same address.
    layout = local_platform.L.Layout(tmp_path)
    cfg = local_platform.Platform(SimpleNamespace(layout=layout)).idp_config()
    assert (cfg.issuer, cfg.app_urls["IDP_ARGOCD_URL"], cfg.netns) == (oidc["issuer"], data["url"], layout.netns)


def test_dev_and_prod_keep_the_company_idp():
    """The laptop's login goes to clusters/local only: dev and prod render their overlay's file."""
    for env in ("dev", "prod"):
        ours = yaml.safe_load(configmap_data(app("argocd", env), "argocd-cm", "argocd")["oidc.config"])
        overlay_file = yaml.safe_load(
            (ROOT / "apps" / "argocd" / "overlays" / env / "url-and-sso" / "argocd-cm-oidc.yaml").read_text())
        assert ours == yaml.safe_load(overlay_file["data"]["oidc.config"]), env


def json_file(path: Path) -> dict:
    return json.loads(path.read_text())


def test_argocd_client_secret_is_a_reference_merged_into_argocd_secret(env):
    oidc = oidc_config(env)
    assert oidc["clientSecret"] == "$oidc.clientSecret", "a $key reference to argocd-secret, never a value"
    es = one(app("argocd", env), "ExternalSecret", "argocd-secret", "argocd")
    target = es["spec"]["target"]
    assert (target["name"], target["creationPolicy"]) == ("argocd-secret", "Merge")
    # Only metadata in the template: the fetched keys go into the Secret as they are.
    assert set(target.get("template", {})) <= {"engineVersion", "metadata"}
    keys = {d["secretKey"]: d["remoteRef"]["key"] for d in es["spec"]["data"]}
    assert keys["oidc.clientSecret"] == "argocd-oidc-client-secret"
    assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "nhn-skm"}


def test_rbac_matches_the_groups_claim(env):
    rbac = configmap_data(app("argocd", env), "argocd-rbac-cm", "argocd")
    assert yaml.safe_load(rbac["scopes"]) == ["groups"]
    subjects = {line.split(",")[1].strip() for line in rbac["policy.csv"].splitlines() if line.startswith("g,")}
    assert subjects == GROUPS


def grafana(env: str) -> dict:
    deployment = one(app("monitoring", env), "Deployment", "grafana", "monitoring")
    return containers(deployment["spec"]["template"]["spec"])["grafana"]


def test_grafana_generic_oauth_points_at_the_clusters_idp(env):
    if "monitoring" not in synced_apps(env):
        pytest.skip(f"{env} runs no monitoring (needs: cloud-only)")
    variables = env_map(grafana(env))
    issuer = ISSUERS[overlay(env)]
    assert variables["GF_AUTH_GENERIC_OAUTH_ENABLED"]["value"] == "true"
    assert variables["GF_AUTH_GENERIC_OAUTH_CLIENT_ID"]["value"] == "grafana"
    for name, path in [("AUTH_URL", "auth"), ("TOKEN_URL", "token"), ("API_URL", "userinfo")]:
        assert variables[f"GF_AUTH_GENERIC_OAUTH_{name}"]["value"] == f"{issuer}/protocol/openid-connect/{path}"
    assert "groups" in variables["GF_AUTH_GENERIC_OAUTH_SCOPES"]["value"].split()
    assert variables["GF_SERVER_ROOT_URL"]["value"] == f"https://grafana.mlops-{overlay(env)}.example.internal"
    role_path = variables["GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH"]["value"]
    assert "'mlops-platform-admins') && 'Admin'" in role_path
    assert "'data-platform-engineers') && 'Editor'" in role_path


def test_grafana_client_secret_comes_from_an_external_secret(env):
    if "monitoring" not in synced_apps(env):
        pytest.skip(f"{env} runs no monitoring (needs: cloud-only)")
    secret = env_map(grafana(env))["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"]
    assert "value" not in secret
    assert secret["valueFrom"]["secretKeyRef"] == {"name": "grafana-oidc", "key": "client-secret"}
    es = one(app("monitoring", env), "ExternalSecret", "grafana-oidc", "monitoring")
    assert [d["secretKey"] for d in es["spec"]["data"]] == ["client-secret"]


def test_grafana_may_reach_the_idp_over_https(env):
    if "monitoring" not in synced_apps(env):
        pytest.skip(f"{env} runs no monitoring (needs: cloud-only)")
    policy = one(app("monitoring", env), "NetworkPolicy", "grafana", "monitoring")
    https = [rule for rule in policy["spec"]["egress"]
             if {"protocol": "TCP", "port": 443} in rule.get("ports", [])]
    assert https, "the OAuth token and userinfo calls go to the IdP on 443"


# --- Airflow: the FAB OAuth component in the dev and prod overlays -------------------------------

COMPONENT = ROOT / "apps" / "airflow" / "components" / "sso"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
OVERLAYS = sorted(p.parent.name for p in (ROOT / "apps" / "airflow" / "overlays").glob("*/kustomization.yaml"))


def adds_sso(env_overlay: str) -> bool:
    kustomization = yaml.safe_load((ROOT / "apps/airflow/overlays" / env_overlay / "kustomization.yaml").read_text())
    return any(c.rstrip("/").endswith("components/sso") for c in kustomization.get("components", []))


def _pins(lock: Path) -> dict[str, str]:
    """name -> version of every `name==version` line of a uv-compiled lock (extras dropped)."""
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_the_lock_and_the_airflow_image_carry_the_fab_provider_with_oauth():
    """What components/sso needs in every Airflow process: the FAB provider, Flask-AppBuilder, and
    Authlib for AUTH_OAUTH (the provider's `oauth` extra); the image installs exactly its lock."""
    assert re.search(r"(?m)^apache-airflow-providers-fab\[oauth\]==\S+$", (ROOT / "requirements.in").read_text())
    assert re.search(r"(?m)^apache-airflow-providers-fab\[oauth\]$",
                     (ROOT / "jobs/images/airflow/requirements.in").read_text())
    repo, image = _pins(ROOT / "requirements.lock"), _pins(ROOT / "jobs/images/airflow/requirements.lock")
    for name in ("apache-airflow-providers-fab", "flask-appbuilder", "authlib", "apache-airflow"):
        assert name in image, f"the Airflow image's lock lacks {name}"
        assert image[name] == repo[name], f"{name}: image {image[name]}, repository {repo[name]}"


def test_dev_and_prod_add_the_sso_component_and_the_image_has_what_it_needs():
    """The overlays that switch to FAB are dev and prod; none may add it without the provider in the
    Airflow image (the API server would not start)."""
    assert [o for o in OVERLAYS if adds_sso(o)] == ["dev", "prod"]
    assert "apache-airflow-providers-fab" in (ROOT / "jobs/images/airflow/requirements.in").read_text()


@pytest.fixture(scope="module", params=OVERLAYS)
def sso_overlay(request):
    """apps/airflow/overlays/<env> as kustomize renders it, for each overlay that adds the component."""
    if not adds_sso(request.param):
        pytest.skip(f"overlay {request.param} does not add components/sso")
    return request.param, render(f"apps/airflow/overlays/{request.param}")


def test_airflow_sso_overlay_renders_the_fab_auth_manager_and_its_idp(sso_overlay):
    env, objects = sso_overlay
    assert configmap_data(objects, "airflow-config", "airflow")["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    # The issuer the other SSO settings of this env use (Argo CD's oidc.config), client `airflow`.
    sso = configmap_data(objects, "airflow-sso", "airflow")
    assert sso == {"SSO_ISSUER": ISSUERS[env], "SSO_CLIENT_ID": "airflow"}
    assert sso["SSO_ISSUER"] == oidc_config(env)["issuer"]
    # webserver_config.py is the repository's file, verbatim.
    webserver = configmap_data(objects, "airflow-webserver-config", "airflow")
    assert webserver == {"webserver_config.py": (COMPONENT / "webserver_config.py").read_text()}


def test_airflow_api_server_gets_the_idp_settings_the_secret_by_reference_and_the_config_file(sso_overlay):
    _, objects = sso_overlay
    pod = one(objects, "Deployment", "airflow-api-server", "airflow")["spec"]["template"]["spec"]
    airflow = containers(pod)["airflow"]
    variables = env_map(airflow)
    assert variables["SSO_CLIENT_SECRET"] == {
        "name": "SSO_CLIENT_SECRET", "valueFrom": {"secretKeyRef": {"name": "airflow-oidc", "key": "client-secret"}}}
    for key in ("SSO_ISSUER", "SSO_CLIENT_ID"):
        assert variables[key]["valueFrom"]["configMapKeyRef"] == {"name": "airflow-sso", "key": key}
    # The component adds to the API server's settings; it must not replace the base's envFrom.
    assert {"configMapRef": {"name": "airflow-config"}} in airflow["envFrom"]
    assert {"configMapRef": {"name": "airflow-etl"}} in airflow["envFrom"]
    mount = next(m for m in airflow["volumeMounts"] if m["name"] == "webserver-config")
    assert mount == {"name": "webserver-config", "mountPath": "/opt/airflow/webserver_config.py",
                     "subPath": "webserver_config.py", "readOnly": True}
    volume = next(v for v in pod["volumes"] if v["name"] == "webserver-config")
    assert volume["configMap"]["name"] == "airflow-webserver-config"
    # The other components keep what they had (the component adds to the API server only).
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        other = containers(one(objects, "Deployment", name, "airflow")["spec"]["template"]["spec"])["airflow"]
        assert "SSO_CLIENT_SECRET" not in env_map(other)


def test_each_cluster_runs_the_auth_manager_its_overlay_and_components_say(env):
    """dev and prod log in through their IdP; clusters/local keeps the simple auth manager (its laptop
    component: the local Keycloak is wired to Argo CD only), although it syncs dev's overlay."""
    config = configmap_data(app("airflow", env), "airflow-config", "airflow")
    expected = SIMPLE_AUTH_MANAGER if env == "local" else FAB_AUTH_MANAGER
    assert config["AIRFLOW__CORE__AUTH_MANAGER"] == expected


def test_airflow_oidc_secret_is_made_by_an_external_secret(env):
    es = one(app("external-secrets", env), "ExternalSecret", "airflow-oidc", "airflow")
    assert es["spec"]["target"]["name"] == "airflow-oidc"
    assert [d["secretKey"] for d in es["spec"]["data"]] == ["client-secret"]


def _assigned(tree: ast.Module) -> dict[str, ast.expr]:
    return {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def test_webserver_config_maps_groups_to_roles_and_holds_no_secret():
    """Read without importing (it reads its settings from the environment at import): OAuth, the
    keycloak provider, roles from the groups claim, every credential from the environment. That it
    works is tests/e2e/idp/test_airflow_login.py."""
    source = (COMPONENT / "webserver_config.py").read_text()
    values = _assigned(ast.parse(source))
    assert ast.unparse(values["AUTH_TYPE"]) == "AUTH_OAUTH"
    assert ast.literal_eval(values["AUTH_ROLES_MAPPING"]) == {
        "mlops-platform-admins": ["Admin"], "data-platform-engineers": ["User"]}
    assert ast.literal_eval(values["AUTH_ROLES_SYNC_AT_LOGIN"]) is True
    assert ast.literal_eval(values["AUTH_USER_REGISTRATION_ROLE"]) == "Viewer"
    provider = values["OAUTH_PROVIDERS"].elts[0]
    keys = {ast.literal_eval(k): v for k, v in zip(provider.keys, provider.values, strict=True)}
    assert ast.literal_eval(keys["name"]) == "keycloak", "FAB's keycloak provider reads groups from userinfo"
    remote = {ast.literal_eval(k): ast.unparse(v) for k, v in zip(keys["remote_app"].keys,
                                                                 keys["remote_app"].values, strict=True)}
    assert remote["client_secret"] == "os.environ['SSO_CLIENT_SECRET']"
    assert remote["client_id"] == "os.environ['SSO_CLIENT_ID']"
    assert "groups" in remote["client_kwargs"]


# A client secret or password written as a value: `clientSecret: abc`, "client_secret": "abc"; a
# reference ($oidc.clientSecret, os.environ[...], a secretKeyRef) is what we want instead.
SECRET_VALUE = re.compile(r"""(?i)(client_?secret|password)["']?\s*[:=]\s*(?!\$|os\.environ)["']?[\w-]""")


def _secret_values(objects) -> list[str]:
    return [f"{cm['metadata']['name']}.{key}" for cm in find(objects, "ConfigMap")
            for key, value in (cm.get("data") or {}).items() if SECRET_VALUE.search(value)]


def test_no_sso_secret_value_in_any_rendered_config_map(env):
    for name in ("argocd", "monitoring", "airflow"):
        assert _secret_values(app(name, env)) == [], name
    # The pattern does find a value written into a ConfigMap.
    leaked = {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"oidc.config": "clientSecret: s3cr3t"}}
    assert _secret_values([leaked]) == ["x.oidc.config"]
