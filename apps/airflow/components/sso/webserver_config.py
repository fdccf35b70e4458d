"""Airflow UI login through the company IdP (OIDC), read by the FAB auth manager.

Mounted as $AIRFLOW_HOME/webserver_config.py by apps/airflow/components/sso. The IdP's issuer and
the client ID come from ConfigMap airflow-sso, the client secret from Secret airflow-oidc (made by
the ExternalSecret airflow-oidc in apps/external-secrets); nothing secret is in this file.

Roles come from the IdP's `groups` claim (group names, as Argo CD's RBAC and Grafana read them),
re-synced at every login; anyone else the IdP lets in is a Viewer.
"""
from __future__ import annotations

import os

from flask_appbuilder.security.manager import AUTH_OAUTH

ISSUER = os.environ["SSO_ISSUER"].rstrip("/")

AUTH_TYPE = AUTH_OAUTH
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = "Viewer"
AUTH_ROLES_SYNC_AT_LOGIN = True
AUTH_ROLES_MAPPING = {
    "mlops-platform-admins": ["Admin"],
    # The data team writes, triggers and clears DAG runs; connections and pools stay with admins.
    "data-platform-engineers": ["User"],
}

# FAB's `keycloak` provider reads the userinfo endpoint (<issuer>/protocol/openid-connect/userinfo):
# preferred_username, given_name, family_name, email, and `groups` as the role keys above.
OAUTH_PROVIDERS = [
    {
        "name": "keycloak",
        "icon": "fa-key",
        "token_key": "access_token",
        "remote_app": {
            "client_id": os.environ["SSO_CLIENT_ID"],
            "client_secret": os.environ["SSO_CLIENT_SECRET"],
            "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
            "api_base_url": f"{ISSUER}/protocol/",
            "client_kwargs": {"scope": "openid profile email groups", "code_challenge_method": "S256"},
        },
    },
]
