"""Minimal OCI distribution client: ask a registry which digest a tag points to.

Used after a push to record the digest the registry itself serves (not what the builder claims).
Speaks the distribution spec: HEAD /v2/<name>/manifests/<ref>, `Docker-Content-Digest` header,
and the bearer-token challenge registries answer 401 with.
"""

from __future__ import annotations

import re

import requests

from ci_tools.errors import ToolFailure

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def split_reference(ref: str) -> tuple[str, str, str]:
    """'host[:port]/repo/name:tag' -> (host, repo/name, tag)."""
    host, _, rest = ref.partition("/")
    if not rest or "." not in host and ":" not in host and host != "localhost":
        raise ToolFailure(f"image reference {ref!r} must start with a registry host")
    if "@" in rest:
        name, _, tag = rest.partition("@")
    else:
        name, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return host, name, tag


def _bearer_token(challenge: str, auth, timeout: float) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", None)
    if not realm:
        raise ToolFailure(f"registry sent a bearer challenge without realm: {challenge!r}")
    resp = requests.get(realm, params=params, auth=auth, timeout=timeout)
    resp.raise_for_status()
    body = resp.json()
    return body.get("token") or body["access_token"]


def resolve_digest(ref: str, *, insecure: bool = False, auth: tuple[str, str] | None = None,
                   timeout: float = 10.0) -> str:
    """Return the sha256 digest the registry serves for ref."""
    host, name, tag = split_reference(ref)
    url = f"{'http' if insecure else 'https'}://{host}/v2/{name}/manifests/{tag}"
    headers = {"Accept": MANIFEST_TYPES}
    resp = requests.head(url, headers=headers, auth=auth, timeout=timeout)
    if resp.status_code == 401 and resp.headers.get("WWW-Authenticate", "").lower().startswith("bearer"):
        token = _bearer_token(resp.headers["WWW-Authenticate"][7:], auth, timeout)
        headers["Authorization"] = f"Bearer {token}"
        resp = requests.head(url, headers=headers, timeout=timeout)
    if resp.status_code != 200:
        raise ToolFailure(f"registry {host}: HEAD manifest {name}:{tag} answered {resp.status_code}")
    digest = resp.headers.get("Docker-Content-Digest", "")
    if not digest.startswith("sha256:"):
        raise ToolFailure(f"registry {host}: no sha256 Docker-Content-Digest for {name}:{tag}")
    return digest
