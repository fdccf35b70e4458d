"""A local stand-in for NHN Cloud Secure Key Manager (SKM), the secret store of every cluster.

External Secrets reads SKM through its webhook provider (apps/external-secrets/base/
cluster-secret-store.yaml): GET /keymanager/v1.2/appkey/<appkey>/secrets/<key id> with the User
Access Key pair in two headers, and takes `.body.secret` from the JSON answer. This server answers
that same request, so the local cluster exercises the real store definition (URL template, headers,
JSON path, the hand-made `nhn-skm-credentials` secret); only the host differs.

The values are generated on first start into a file outside git (`ensure_store()`), one per key the
cluster's ExternalSecrets name, shaped like what the key holds (a Fernet key, a URL, a password);
a value another local server owns is put there by `set_secret()` (the local Keycloak's client
secret for Argo CD, tools/platform/platform.py).
A request without the right app key and key pair is refused (401), like SKM does.

    python -m tools.platform.skm --store FILE --port PORT --tag STATE_DIR
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from pathlib import Path

from tools.platform import serving

PREFIX = "/keymanager/v1.2/appkey/"
CREDENTIAL_KEYS = ("appkey", "accessKeyId", "secretAccessKey")


def generated_value(key: str, webhook_url: str) -> str:
    """A value shaped like what an SKM key of this name holds."""
    if key.endswith("fernet-key"):
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if key.endswith("webhook-url"):
        return f"{webhook_url}/{key}"
    if key.endswith("-json"):
        return json.dumps({"admin": secrets.token_urlsafe(18)})
    if key == "cluster-autoscaler-cloud-config":
        return "[Global]\n# not used: the local cluster has no node groups\n"
    return secrets.token_urlsafe(24)


def ensure_store(path: Path, keys: list[str], webhook_url: str) -> dict:
    """The store file: credentials + one value per key; keys already there keep their value (a
    re-run does not rotate anything), new keys are added."""
    store = json.loads(path.read_text()) if path.exists() else {}
    credentials = store.setdefault("credentials", {})
    for name in CREDENTIAL_KEYS:
        credentials.setdefault(name, secrets.token_hex(16))
    values = store.setdefault("secrets", {})
    for key in keys:
        values.setdefault(key, generated_value(key, webhook_url))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(store, indent=2))
    path.chmod(0o600)
    return store


def set_secret(path: Path, key: str, value: str) -> bool:
    """Put a value another local server made (e.g. the local Keycloak's client secret) under `key`;
    returns whether it changed. Written to a new file and renamed, so the server, which reads the
    store on every request, never sees half a file."""
    store = json.loads(path.read_text())
    if store.setdefault("secrets", {}).get(key) == value:
        return False
    store["secrets"][key] = value
    partial = path.with_name(f".{path.name}.new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(store, out, indent=2)
    os.replace(partial, path)
    return True


def external_secret_keys(objects: list[dict]) -> list[str]:
    """Every SKM key the ExternalSecrets among `objects` read."""
    keys = set()
    for obj in objects:
        if obj.get("kind") != "ExternalSecret":
            continue
        spec = obj.get("spec") or {}
        for item in spec.get("data") or []:
            keys.add(item["remoteRef"]["key"])
        for item in spec.get("dataFrom") or []:
            if (item.get("extract") or {}).get("key"):
                keys.add(item["extract"]["key"])
    return sorted(keys)


class Handler(serving.JsonHandler):
    store_file: Path

    def _failure(self, status: int, code: int, message: str) -> None:
        self.answer(status, {"header": {"isSuccessful": False, "resultCode": code, "resultMessage": message}})

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/healthz":
            return self.answer(200, {"ok": True})
        store = json.loads(self.store_file.read_text())  # read per request: values may be rotated
        credentials = store["credentials"]
        if not self.path.startswith(PREFIX):
            return self._failure(404, -404, "not found")
        appkey, _, rest = self.path[len(PREFIX):].partition("/secrets/")
        if (appkey != credentials["appkey"]
                or self.headers.get("X-TC-AUTHENTICATION-ID") != credentials["accessKeyId"]
                or self.headers.get("X-TC-AUTHENTICATION-SECRET") != credentials["secretAccessKey"]):
            return self._failure(401, -401, "authentication failed")
        value = store["secrets"].get(rest)
        if value is None:
            return self._failure(404, -1000, f"no secret {rest!r}")
        self.answer(200, {"header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"},
                           "body": {"secret": value}})


def main(argv: list[str] | None = None) -> int:
    parser = serving.parser("python -m tools.platform.skm", __doc__)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args(argv)
    Handler.store_file = args.store.resolve()
    return serving.serve(Handler, args.bind, args.port)


if __name__ == "__main__":
    sys.exit(main())
