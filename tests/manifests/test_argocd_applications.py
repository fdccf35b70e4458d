"""Argo CD: Applications per cluster, AppProjects, sync waves, and HPA-vs-Argo-CD replicas."""
from __future__ import annotations

import yaml
from platform_render import PLATFORM_APPS, ROOT, app, cluster, find, one, overlay, platform_source, synced_apps

from tools import clusters
from tools.platform import platform as local_platform
from tools.versions import read_versions

OPERATOR_APPS = {"argocd", "external-secrets-operator", "spark-operator"}
WORKLOAD_APPS = {"airflow", "spark-standalone"}


def applications(env: str) -> list[dict]:
    return find(cluster(env), "Application")


def projects(env: str) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in find(cluster(env), "AppProject")}


def wave(application: dict) -> int:
    return int(application["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def rendered_overlay(application: dict) -> str | None:
    source = platform_source(application)
    return source["path"] if source else None


def synced_path(name: str, env: str) -> str:
    """apps/<app>/overlays/<the cluster's overlay>, or apps/<app>/base for an app that says it is
    the same in every cluster."""
    app_file = yaml.safe_load((ROOT / "apps" / name / "application.yaml").read_text())
    return f"apps/{name}/base" if app_file.get("sameInEveryCluster") else f"apps/{name}/overlays/{overlay(env)}"


def test_one_application_per_platform_app_pointing_at_its_overlay(env):
    by_path = {rendered_overlay(a): a["metadata"]["name"] for a in applications(env)}
    for name in set(PLATFORM_APPS) & set(synced_apps(env)):
        assert synced_path(name, env) in by_path, f"no Application syncs {synced_path(name, env)}"


def test_every_application_source_path_exists_and_is_for_this_cluster(env):
    for application in applications(env):
        path = rendered_overlay(application)
        if path is None:
            continue  # chart-only Application
        assert (ROOT / path / "kustomization.yaml").is_file(), f"{application['metadata']['name']}: {path} missing"
        wanted = f"clusters/{env}" if path.startswith("clusters/") else synced_path(path.split("/")[1], env)
        assert path.rstrip("/") == wanted, f"{application['metadata']['name']} syncs {path} in {env}"


def test_root_application_manages_itself(env):
    root = one(cluster(env), "Application", "root", "argocd")
    assert rendered_overlay(root) == f"clusters/{env}"
    assert root["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_every_application_is_automated_with_prune_and_self_heal(env):
    for application in applications(env):
        automated = application["spec"]["syncPolicy"]["automated"]
        assert automated.get("prune") is True and automated.get("selfHeal") is True, application["metadata"]["name"]


def test_every_application_is_in_a_non_default_project_that_allows_its_destination(env):
    known = projects(env)
    for application in applications(env):
        name = application["metadata"]["name"]
        project = application["spec"]["project"]
        assert project != "default", f"{name} uses the default AppProject"
        assert project in known, f"{name}: AppProject {project} is not rendered"
        destination = application["spec"]["destination"]
        allowed = {(d["server"], d["namespace"]) for d in known[project]["spec"]["destinations"]}
        assert (destination["server"], destination["namespace"]) in allowed, name
        repos = set(known[project]["spec"]["sourceRepos"])
        for source in application["spec"]["sources"]:
            assert source["repoURL"] in repos, f"{name}: {source['repoURL']} not in {project}.sourceRepos"


def test_app_projects_have_no_wildcards(env):
    for name, project in projects(env).items():
        spec = project["spec"]
        values = list(spec["sourceRepos"])
        for d in spec["destinations"]:
            values += [d.get("server", ""), d.get("namespace", ""), d.get("name", "")]
        for key in ("clusterResourceWhitelist", "namespaceResourceWhitelist"):
            assert key in spec, f"{name}: {key} must be an explicit list"
            for entry in spec[key]:
                values += [entry["group"], entry["kind"]]
        assert not [v for v in values if "*" in v], f"AppProject {name} contains a wildcard"


def test_data_team_project_cannot_create_cluster_scoped_objects(env):
    assert projects(env)["data-platform"]["spec"]["clusterResourceWhitelist"] == []


def test_project_allow_lists_cover_what_the_apps_render(env):
    """An object kind missing from the project's allow-list would fail the sync in the cluster."""
    known = projects(env)
    for application in applications(env):
        path = rendered_overlay(application)
        if path is None or not path.startswith("apps/"):
            continue
        spec = known[application["spec"]["project"]]["spec"]
        cluster_kinds = {(e["group"], e["kind"]) for e in spec["clusterResourceWhitelist"]}
        ns_kinds = {(e["group"], e["kind"]) for e in spec["namespaceResourceWhitelist"]}
        for obj in app(path.split("/")[1], env):
            group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
            kinds = ns_kinds if obj["metadata"].get("namespace") else cluster_kinds
            assert (group, obj["kind"]) in kinds, f"{application['metadata']['name']}: {obj['kind']} not allowed"


def test_sync_waves_order_namespaces_then_operators_then_apps(env):
    waves = {a["metadata"]["name"]: wave(a) for a in applications(env) if a["metadata"]["name"] != "root"}
    assert waves["namespaces"] < min(waves[n] for n in OPERATOR_APPS)
    assert max(waves[n] for n in OPERATOR_APPS) < min(waves[n] for n in WORKLOAD_APPS)
    assert waves["external-secrets-operator"] < waves["external-secrets"]
    if "cluster-autoscaler" in waves:  # not in clusters without node groups (local)
        assert waves["external-secrets"] < waves["cluster-autoscaler"]


def test_argocd_manages_itself_from_a_pinned_upstream_tag(env):
    argocd = one(cluster(env), "Application", "argocd", "argocd")
    upstream, ours = argocd["spec"]["sources"]
    mirror = clusters.settings(env).get("mirror")
    # An offline cluster (local) reads the same repository from its mirror.
    assert upstream["repoURL"] == (f"{mirror}/git/argo-cd.git" if mirror else "https://github.com/argoproj/argo-cd.git")
    assert upstream["targetRevision"].startswith("v3.") and upstream["targetRevision"].count(".") == 2
    # Last source wins for objects both render (argocd-cm & co.): ours must come last.
    assert ours["name"] == "platform"


def test_argocd_upstream_matches_the_gate_schema_version(env):
    versions = read_versions()
    argocd = one(cluster(env), "Application", "argocd", "argocd")
    # local runs the newest Argo CD that builds here (its image is built from that module).
    pin = "ARGOCD_LOCAL_VERSION" if env == "local" else "ARGOCD_MODULE_VERSION"
    assert argocd["spec"]["sources"][0]["targetRevision"] == versions[pin]
    spark = one(cluster(env), "Application", "spark-operator", "argocd")
    assert "v" + spark["spec"]["sources"][0]["targetRevision"] == versions["SPARK_OPERATOR_MODULE_VERSION"]


def test_upstream_argocd_install_fits_its_project_and_our_overrides(env):
    """The upstream install at ARGOCD_MODULE_VERSION (rendered from the Go module) syncs under the
    argocd Application's project, and our config objects replace objects upstream really ships."""
    from scrape_targets import argocd_upstream

    application = one(cluster(env), "Application", "argocd", "argocd")
    spec = projects(env)[application["spec"]["project"]]["spec"]
    cluster_kinds = {(e["group"], e["kind"]) for e in spec["clusterResourceWhitelist"]}
    ns_kinds = {(e["group"], e["kind"]) for e in spec["namespaceResourceWhitelist"]}
    upstream = argocd_upstream()
    missing = sorted({f"{o['apiVersion']} {o['kind']}" for o in upstream
                      if (o["apiVersion"].rpartition("/")[0], o["kind"])
                      not in (ns_kinds if o["metadata"].get("namespace") else cluster_kinds)})
    assert missing == [], f"project {application['spec']['project']} does not allow upstream Argo CD kinds: {missing}"
    shipped = {(o["kind"], o["metadata"]["name"]) for o in upstream}
    ours = {(o["kind"], o["metadata"]["name"]) for o in app("argocd", env) if o["kind"] == "ConfigMap"}
    assert ours and ours <= shipped, f"our Argo CD ConfigMaps that upstream does not ship: {ours - shipped}"
    # Since 3.3 the ApplicationSet CRD is too big for client-side apply's last-applied annotation.
    assert "ServerSideApply=true" in application["spec"]["syncPolicy"]["syncOptions"]


# Upstream defaults for APIs no platform app installs (Argo Rollouts, cert-manager, Cilium, Kyverno).
UNUSED_API_GROUPS = {"argoproj.io_Rollout", "cert-manager.io", "cilium.io", "kyverno.io", "reports.kyverno.io",
                     "wgpolicyk8s.io"}


def _exclusions(config_map: dict) -> set[tuple[str, str]]:
    rules = yaml.safe_load(config_map["data"].get("resource.exclusions", "[]")) or []
    return {(group, kind) for rule in rules for group in rule.get("apiGroups", []) for kind in rule.get("kinds", [])}


def test_our_argocd_cm_keeps_upstreams_3x_defaults(env):
    """Our argocd-cm replaces upstream's, which carries default exclusions and ignoreResourceUpdates
    since 3.0: dropping them would make Argo CD watch every Endpoints/Lease/review object."""
    from scrape_targets import argocd_upstream

    upstream = one(argocd_upstream(), "ConfigMap", "argocd-cm")
    ours = one(app("argocd", env), "ConfigMap", "argocd-cm", "argocd")
    ignore_keys = {k for k in upstream["data"] if k.startswith("resource.customizations.ignoreResourceUpdates.")}
    wanted = {k for k in ignore_keys
              if k.removeprefix("resource.customizations.ignoreResourceUpdates.") not in UNUSED_API_GROUPS}
    assert wanted - set(ours["data"]) == set(), "upstream ignoreResourceUpdates defaults missing from our argocd-cm"
    for key in wanted:
        theirs, mine = yaml.safe_load(upstream["data"][key]), yaml.safe_load(ours["data"][key])
        for field, entries in theirs.items():
            needed = {e for e in entries if "rollout" not in e}  # Argo Rollouts is not installed
            assert needed <= set(mine.get(field, [])), f"argocd-cm {key}.{field} lacks {needed - set(mine.get(field, []))}"
    missing = {(g, k) for g, k in _exclusions(upstream) - _exclusions(ours) if g not in UNUSED_API_GROUPS}
    assert missing == set(), f"upstream resource.exclusions missing from our argocd-cm: {sorted(missing)}"
    # Nothing the platform declares in git may be excluded (Argo CD would silently not manage it).
    rendered = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for name in PLATFORM_APPS for o in app(name, env)}
    assert rendered & _exclusions(ours) == set()


def test_argocd_settings(env):
    objects = app("argocd", env)
    cm = one(objects, "ConfigMap", "argocd-cm", "argocd")
    assert cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd", "Argo CD ignores it otherwise"
    # clusters/local: argocd-server's address in the node namespace (its laptop component, for the
    # local Keycloak's redirect; test_sso.py).
    expected_url = local_platform.ARGOCD_URL if env == "local" else f"https://argocd.mlops-{overlay(env)}.example.internal"
    assert cm["data"]["url"] == expected_url
    assert "resource.customizations.health.argoproj.io_Application" in cm["data"]
    rbac = one(objects, "ConfigMap", "argocd-rbac-cm", "argocd")["data"]
    assert rbac["policy.default"] == "role:readonly"
    assert "role:admin" in rbac["policy.csv"]
    notifications = one(objects, "ConfigMap", "argocd-notifications-cm", "argocd")["data"]
    assert {"trigger.on-sync-failed", "trigger.on-health-degraded"} <= set(notifications)
    webhook = one(objects, "ExternalSecret", "argocd-secret", "argocd")
    assert webhook["spec"]["target"]["creationPolicy"] == "Merge"
    assert [d["secretKey"] for d in webhook["spec"]["data"]] == ["webhook.github.secret", "oidc.clientSecret"]


# --- HPA vs Argo CD (argoproj/argo-cd #5105, #9678, #1603) ------------------------------------

def hpa_targets(env: str):
    """(Application, HPA, target workload) for every HPA any Application renders."""
    for application in applications(env):
        path = rendered_overlay(application)
        if path is None or not path.startswith("apps/"):
            continue
        objects = app(path.split("/")[1], env)
        for hpa in find(objects, "HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            target = one(objects, ref["kind"], ref["name"], hpa["metadata"]["namespace"])
            yield application, hpa, target


def test_there_are_hpas_to_check(env):
    names = {t["metadata"]["name"] for _, _, t in hpa_targets(env)}
    assert {"airflow-api-server", "spark-worker"} <= names


def test_hpa_targets_have_no_replicas_in_git(env):
    for _, _hpa, target in hpa_targets(env):
        assert "replicas" not in target["spec"], f"{target['metadata']['name']} is HPA-scaled but sets replicas"


def test_hpa_targets_are_ignored_by_argocd_on_replicas(env):
    for application, _, target in hpa_targets(env):
        group = target["apiVersion"].split("/")[0]
        wanted = {"group": group, "kind": target["kind"], "name": target["metadata"]["name"],
                  "namespace": target["metadata"]["namespace"], "jsonPointers": ["/spec/replicas"]}
        assert wanted in application["spec"].get("ignoreDifferences", []), \
            f"{application['metadata']['name']}: no ignoreDifferences for {target['kind']} {target['metadata']['name']}"
        assert "RespectIgnoreDifferences=true" in application["spec"]["syncPolicy"]["syncOptions"]


# Secrets External Secrets merges into (upstream ships them empty): their data is not git's.
MERGED_SECRETS = {("Secret", "argocd-secret"), ("Secret", "argocd-notifications-secret")}


def test_ignore_differences_only_for_hpa_targets_and_merged_secrets(env):
    """A stale ignore entry would hide real drift of a workload that is no longer autoscaled."""
    targets = {(t["kind"], t["metadata"]["name"]) for _, _, t in hpa_targets(env)}
    for application in applications(env):
        for entry in application["spec"].get("ignoreDifferences", []):
            key = (entry["kind"], entry["name"])
            assert key in targets or (key in MERGED_SECRETS and entry["jsonPointers"] == ["/data"]), entry
