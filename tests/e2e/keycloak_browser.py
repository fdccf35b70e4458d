"""Keycloak's login page driven the way a browser would, with `requests` (no browser runs here): what
the suites that log people in through the local IdP share (tests/e2e/idp, tests/e2e/argocd).

The caller starts a login at the application (or builds the authorize URL itself, as a CLI does),
`fill_login_form` loads Keycloak's form from that authorize URL and posts the credentials, and the
caller follows Keycloak's answer back to the application's callback."""
from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets

import requests

# Origins a browser treats as secure contexts over plain HTTP (W3C Secure Contexts: loopback).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "localhost.local", "[::1]")


class Browser(requests.Session):
    """A browser's cookie rules, where http://127.0.0.1 counts as a secure context: Keycloak marks
    its login-session cookies Secure (SameSite=None) there, and a browser sends them back to a
    loopback origin over plain HTTP; requests would drop them (Keycloak: "Restart login cookie not
    found"). Any other host keeps requests' (and a browser's) rule: a Secure cookie goes over HTTPS only."""

    def prepare_request(self, request):
        for cookie in self.cookies:
            if cookie.secure and cookie.domain in LOOPBACK_HOSTS:
                cookie.secure = False
        return super().prepare_request(request)


def login_form_action(page: str) -> str:
    """Where Keycloak's login form posts to (its `kc-form-login` form)."""
    match = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page)
    assert match, f"no Keycloak login form in the page:\n{page[:2000]}"
    return html.unescape(match.group(1))


def fill_login_form(session: requests.Session, authorize_url: str, username: str, password: str,
                    **request_options) -> requests.Response:
    """GET Keycloak's authorize URL (its login form), POST the credentials; returns Keycloak's answer
    unfollowed: a redirect to the client's callback when they are right, the form again when not."""
    form = session.get(authorize_url, timeout=30, **request_options)
    assert form.status_code == 200, f"Keycloak's login page: {form.status_code} {form.text[:1000]}"
    return session.post(login_form_action(form.text),
                        data={"username": username, "password": password, "credentialId": ""},
                        allow_redirects=False, timeout=30, **request_options)


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge
