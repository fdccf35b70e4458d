"""The local platform's IdP wiring, without a cluster: Keycloak's argocd client secret goes into the
local SKM under the key the ExternalSecret argocd-secret reads (once; a re-run changes nothing), a
changed secret makes External Secrets read it again, `down` stops the IdP before the cluster and
leaves no state of it, and the node's Keycloak is one of "our" processes, so stopping the cluster
stops it too. (Keycloak itself in the node namespace runs in `make e2e-argocd`.)"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tools.idp import keycloak
from tools.k8s import layout as L
from tools.k8s import procs
from tools.platform import platform as local_platform
from tools.platform import skm


def test_set_secret_replaces_one_value_atomically_and_says_whether_it_changed(tmp_path):
    store_file = tmp_path / "skm-store.json"
    store = skm.ensure_store(store_file, ["argocd-oidc-client-secret", "airflow-fernet-key"], "http://receiver")
    assert skm.set_secret(store_file, "argocd-oidc-client-secret", "from-keycloak") is True
    assert skm.set_secret(store_file, "argocd-oidc-client-secret", "from-keycloak") is False
    again = json.loads(store_file.read_text())
    assert again["secrets"]["argocd-oidc-client-secret"] == "from-keycloak"
    assert again["secrets"]["airflow-fernet-key"] == store["secrets"]["airflow-fernet-key"]
    assert again["credentials"] == store["credentials"]
    assert oct(store_file.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["skm-store.json"], "no partial file left"
    # ensure_store on the next `up` keeps the seeded value (it only fills keys that are missing).
    skm.ensure_store(store_file, ["argocd-oidc-client-secret"], "http://receiver")
    assert json.loads(store_file.read_text())["secrets"]["argocd-oidc-client-secret"] == "from-keycloak"


class FakeCluster:
    """What Platform needs of LocalKubernetes here: a layout, kubectl, down."""

    def __init__(self, state_dir: Path, external_secret_exists: bool):
        self.layout = L.Layout(state_dir)
        self.exists = external_secret_exists
        self.calls: list[tuple[str, ...]] = []

    def kubectl(self, *args, check=True, input=None, timeout=120):
        self.calls.append(args)
        return SimpleNamespace(returncode=0 if (self.exists or "get" not in args) else 1, stdout="", stderr="")

    def down(self, quiet=False):
        self.calls.append(("k8s down",))


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    """A Platform on a fake cluster whose Keycloak `up` only writes the secrets file it would write."""
    def fake_up(cfg):
        if not cfg.secrets_file.exists():
            cfg.secrets_file.parent.mkdir(parents=True, exist_ok=True)
            cfg.secrets_file.write_text(json.dumps({"clients": {"argocd": f"kc-{time.time_ns()}"}, "users": {}}))
        return 0
    monkeypatch.setattr(keycloak, "up", fake_up)

    def make(exists: bool) -> tuple[local_platform.Platform, FakeCluster]:
        cluster = FakeCluster(tmp_path / "k8s", exists)
        platform = local_platform.Platform(cluster)
        skm.ensure_store(platform.skm_store, [local_platform.OIDC_CLIENT_SECRET_KEY], "http://receiver")
        return platform, cluster
    return make


def annotations(cluster: FakeCluster) -> list[tuple[str, ...]]:
    return [c for c in cluster.calls if "annotate" in c]


def test_start_idp_puts_keycloaks_argocd_secret_into_the_skm_once(seeded):
    platform, cluster = seeded(exists=False)
    cfg = platform.start_idp()
    secret = keycloak.load_secrets(cfg)["clients"]["argocd"]
    assert json.loads(platform.skm_store.read_text())["secrets"][local_platform.OIDC_CLIENT_SECRET_KEY] == secret
    assert annotations(cluster) == [], "no ExternalSecret yet: its first read takes the store as it is"
    platform.start_idp()  # a re-run: same Keycloak, same secret, nothing to refresh
    assert annotations(cluster) == []


def test_a_new_keycloak_secret_makes_external_secrets_read_again(seeded):
    platform, cluster = seeded(exists=True)
    platform.start_idp()
    (refresh,) = annotations(cluster)
    assert refresh[:5] == ("-n", "argocd", "annotate", "externalsecret", "argocd-secret")
    assert refresh[-1].startswith("force-sync=")
    platform.start_idp()
    assert len(annotations(cluster)) == 1, "an unchanged secret is not pushed again"


def test_idp_settings_are_the_node_namespaces(seeded):
    platform, _ = seeded(exists=False)
    cfg = platform.idp_config()
    assert cfg.netns == platform.lay.netns and cfg.address == L.NODE_IP
    assert cfg.issuer == local_platform.IDP_ISSUER == f"http://{L.NODE_IP}:{local_platform.IDP_PORT}/realms/mlops"
    assert cfg.app_urls["IDP_ARGOCD_URL"] == local_platform.ARGOCD_URL
    assert cfg.state_dir == platform.idp_dir and cfg.state_dir.is_relative_to(platform.lay.state_dir), \
        "under the cluster's state dir: its processes are found (and stopped) as the cluster's"


def test_down_stops_the_idp_first_and_leaves_no_state_of_it(seeded, monkeypatch):
    platform, cluster = seeded(exists=False)
    platform.start_idp()
    cluster.calls.clear()
    stopped = []
    monkeypatch.setattr(keycloak, "down", lambda cfg, quiet=False: stopped.append((cfg.state_dir, len(cluster.calls))))
    platform.down()
    assert stopped == [(platform.idp_dir, 0)] and cluster.calls == [("k8s down",)], "IdP first, then the cluster"
    assert not platform.idp_dir.exists()
    platform.down()  # again: nothing left, still fine
    assert cluster.calls == [("k8s down",), ("k8s down",)]


def test_the_nodes_keycloak_counts_as_one_of_our_processes(tmp_path):
    """By command line, like every process of the cluster: the JVM (its kc.home.dir under the state
    dir) and kc.sh while it waits for the JVM's build run; anything else with the state dir in its
    arguments is not."""
    home = tmp_path / "platform" / "idp" / "keycloak"
    (home / "bin").mkdir(parents=True)
    script = home / "bin" / "kc.sh"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    sleeper = f"import time; time.sleep(30)  # {tmp_path}"
    started = [
        subprocess.Popen(["bash", "-c", f'exec -a java {sys.executable} -c "{sleeper}" -Dkc.home.dir={home}/bin/..']),
        subprocess.Popen(["/bin/sh", str(script)]),
        subprocess.Popen([sys.executable, "-c", sleeper]),  # names the state dir, but is nothing of ours
    ]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = {f.pid: f.name for f in procs.find_ours(tmp_path)}
            if len(found) >= 2:
                break
            time.sleep(0.1)
        assert found == {started[0].pid: "keycloak", started[1].pid: "keycloak"}
    finally:
        for process in started:
            process.kill()
            process.wait()
