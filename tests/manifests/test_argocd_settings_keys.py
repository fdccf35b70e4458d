"""Every key we set in argocd-cm, argocd-rbac-cm and argocd-notifications-cm is one Argo CD reads, in
the version the local cluster runs (ARGOCD_LOCAL_VERSION, v3.2.11: the newest line that builds
here) and in prod's (ARGOCD_MODULE_VERSION). A key Argo CD does not know is silently ignored, so a
typo (or a key one version dropped) would be a setting that never applies.

The known keys are read from each version's Go module sources (`go mod download -json`):
  argocd-cm     the `...Key = "..."` constants of util/settings, the argocd-cm keys upstream's
                install manifests pass to components (configMapKeyRef, e.g. timeout.reconciliation),
                and `resource.customizations.<type>.<group_kind>` with the types settings.go accepts;
  oidc.config   the JSON tags of util/settings' OIDCConfig (and the unexported oidcConfig around it),
                what Argo CD unmarshals that key's YAML into (an unknown key there is ignored too);
  argocd-rbac-cm  the `ConfigMap...Key` constants of util/rbac;
  notifications  `context` (util/notification/settings), and the keys and prefixes the
                notifications engine (at the version that Argo CD's go.mod requires) parses, with the
                service types its NewService knows for `service.<type>.<name>`.
"""
from __future__ import annotations

import functools
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from platform_render import CLUSTERS, app, configmap_data

from tools.versions import read_versions

VERSIONS = read_versions()
# The local cluster's Argo CD (issue 13); tools/versions.env names it once the platform lands there.
LOCAL_VERSION = VERSIONS.get("ARGOCD_LOCAL_VERSION", "v3.2.11")
PROD_VERSION = VERSIONS["ARGOCD_MODULE_VERSION"]
CONFIG_MAPS = ("argocd-cm", "argocd-rbac-cm", "argocd-notifications-cm")


@functools.cache
def module_dir(module: str, version: str) -> Path:
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True,
                          text=True, check=False, timeout=600, cwd="/")
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        pytest.fail(f"go mod download {module}@{version}: {info.get('Error') or proc.stderr}")
    return Path(info["Dir"])


def go_sources(folder: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.glob("*.go")) if not p.name.endswith("_test.go"))


@dataclass
class Known:
    exact: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)
    service_types: set[str] = field(default_factory=set)

    def unknown(self, keys) -> list[str]:
        out = []
        for key in keys:
            if key in self.exact:
                continue
            prefix = next((p for p in self.prefixes if key.startswith(p) and len(key) > len(p)), None)
            if prefix is None:
                out.append(key)
            elif prefix == "service." and key.split(".")[1] not in self.service_types:
                out.append(key)
        return sorted(out)


@functools.cache
def known_keys(version: str) -> dict[str, Known]:
    argocd = module_dir("github.com/argoproj/argo-cd/v3", version)
    settings = go_sources(argocd / "util" / "settings")
    cm = Known(exact=set(re.findall(r'^\s*\w+Key\s*=\s*"([^"]+)"', settings, re.M)))
    for doc in yaml.safe_load_all((argocd / "manifests" / "install.yaml").read_text()):
        for ref in _config_map_key_refs(doc):
            if ref.get("name") == "argocd-cm":
                cm.exact.add(ref["key"])
    switch = settings.split("customizationType := parts[2]", 1)[1].split("default:", 1)[0]
    cm.prefixes = {f"resource.customizations.{t}." for t in re.findall(r'case "([^"]+)":', switch)}

    rbac = Known(exact=set(re.findall(r'ConfigMap\w*Key\s*=\s*"([^"]+)"',
                                      (argocd / "util" / "rbac" / "rbac.go").read_text())))

    engine_version = re.search(r"^\s*github\.com/argoproj/notifications-engine (\S+)",
                               (argocd / "go.mod").read_text(), re.M).group(1)
    engine = module_dir("github.com/argoproj/notifications-engine", engine_version)
    parser = (engine / "pkg" / "api" / "config.go").read_text()
    notifications = Known(
        exact=set(re.findall(r'configMap\.Data\["([^"]+)"\]', parser))
        | set(re.findall(r'configMap\.Data\["([^"]+)"\]', go_sources(argocd / "util" / "notification" / "settings"))),
        prefixes=set(re.findall(r'strings\.HasPrefix\(k, "([^"]+\.)"\)', parser)))
    new_service = (engine / "pkg" / "services" / "services.go").read_text().split("func NewService(", 1)[1]
    notifications.service_types = set(re.findall(r'case "([^"]+)":', new_service.split("\n}\n", 1)[0]))
    return {"argocd-cm": cm, "argocd-rbac-cm": rbac, "argocd-notifications-cm": notifications}


@functools.cache
def oidc_config_keys(version: str) -> set[str]:
    settings = (module_dir("github.com/argoproj/argo-cd/v3", version) / "util" / "settings" / "settings.go").read_text()
    keys = set()
    for struct in ("OIDCConfig", "oidcConfig"):
        body = settings.split(f"\ntype {struct} struct {{", 1)[1].split("\n}", 1)[0]
        keys |= set(re.findall(r'json:"([^",]+)', body))
    return keys


def _config_map_key_refs(node):
    if isinstance(node, dict):
        if "configMapKeyRef" in node:
            yield node["configMapKeyRef"]
        for value in node.values():
            yield from _config_map_key_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _config_map_key_refs(value)


def our_keys(name: str) -> set[str]:
    """Every key any cluster's rendered argocd Application sets in that ConfigMap."""
    return {key for env in CLUSTERS for key in configmap_data(app("argocd", env), name, "argocd")}


@pytest.mark.parametrize("version", sorted({LOCAL_VERSION, PROD_VERSION}))
@pytest.mark.parametrize("name", CONFIG_MAPS)
def test_every_key_we_set_is_read_by_argocd(name, version):
    keys = our_keys(name)
    assert keys, f"no keys in {name}?"
    assert known_keys(version)[name].unknown(keys) == [], \
        f"{name}: keys Argo CD {version} does not read (typo, or gone in that version)"


@pytest.mark.parametrize("version", sorted({LOCAL_VERSION, PROD_VERSION}))
def test_every_oidc_config_key_we_set_is_read_by_argocd(version):
    """Each cluster's oidc.config (clusters/local's for the local Keycloak included: cliClientID,
    enablePKCEAuthentication)."""
    ours = {key for env in CLUSTERS
            for key in yaml.safe_load(configmap_data(app("argocd", env), "argocd-cm", "argocd")["oidc.config"])}
    known = oidc_config_keys(version)
    assert {"issuer", "clientID", "cliClientID", "enablePKCEAuthentication", "allowedAudiences"} <= known, version
    assert ours - known == set(), f"oidc.config keys Argo CD {version} does not read"


def test_the_sources_were_really_read():
    """A parser that found nothing would let everything through: the lists must hold what we know."""
    for version in {LOCAL_VERSION, PROD_VERSION}:
        known = known_keys(version)
        assert {"url", "oidc.config", "admin.enabled", "timeout.reconciliation", "resource.exclusions"} \
            <= known["argocd-cm"].exact, version
        assert "resource.customizations.health." in known["argocd-cm"].prefixes, version
        assert {"policy.csv", "policy.default", "scopes"} <= known["argocd-rbac-cm"].exact, version
        notifications = known["argocd-notifications-cm"]
        assert {"context", "subscriptions"} <= notifications.exact, version
        assert {"template.", "trigger.", "service."} <= notifications.prefixes, version
        assert {"webhook", "slack", "email"} <= notifications.service_types, version


@pytest.mark.parametrize("name, made_up", [
    ("argocd-cm", "oidc.confg"),                                      # typo of oidc.config
    ("argocd-cm", "resource.customizations.healthcheck.apps_Deployment"),  # no such customization type
    ("argocd-cm", "users.anonymous"),                                  # prefix of a real key, not a key
    ("argocd-rbac-cm", "policy.default.role"),
    ("argocd-notifications-cm", "service.carrier-pigeon.alerts"),      # no such service type
    ("argocd-notifications-cm", "triggers.on-sync-failed"),           # trigger. is the prefix
])
def test_a_made_up_key_fails_the_check(name, made_up):
    for version in {LOCAL_VERSION, PROD_VERSION}:
        assert known_keys(version)[name].unknown(our_keys(name) | {made_up}) == [made_up], version
