"""Argo CD ApplicationSets: the Applications they generate are the ones the repository had before
(tests/manifests/expected, rendered from the hand-written Applications), and what every app
shares is written once."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from platform_render import CLUSTERS, ROOT, chart_values, cluster, cluster_entry, find

from tools.gate import appset

EXPECTED = Path(__file__).parent / "expected"
EXPECTED_CLUSTERS = sorted(p.stem.removeprefix("applications-") for p in EXPECTED.glob("applications-*.yaml"))


def comparable(application: dict) -> dict:
    """An Application as Argo CD acts on it: chart values resolved from the value files into
    `valuesObject`, and sources that only lend their files to `valueFiles` (ref) dropped."""
    app = copy.deepcopy({"metadata": {k: v for k, v in application["metadata"].items()
                                      if k in ("name", "namespace", "labels", "annotations", "finalizers")},
                         "spec": application["spec"]})
    for source in app["spec"]["sources"]:
        if source.get("chart") and "valueFiles" in source.get("helm", {}):
            source["helm"] = {"releaseName": source["helm"]["releaseName"], "valuesObject": chart_values(application)}
    app["spec"]["sources"] = [s for s in app["spec"]["sources"] if not (s.get("ref") and not s.get("path"))]
    return app


def generated(env: str) -> dict[str, dict]:
    return {a["metadata"]["name"]: a for a in appset.generated_applications(list(cluster_entry(env)), ROOT)}


@pytest.mark.parametrize("env", EXPECTED_CLUSTERS)
def test_generated_applications_equal_the_previous_hand_written_ones(env):
    expected = {a["metadata"]["name"]: a for a in yaml.safe_load_all((EXPECTED / f"applications-{env}.yaml").read_text())}
    actual = {name: comparable(a) for name, a in generated(env).items()}
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], f"Application {name} in {env} differs from before"


def test_expected_data_covers_dev_and_prod():
    assert {"dev", "prod"} <= set(EXPECTED_CLUSTERS)


def test_every_app_file_becomes_exactly_one_application():
    """In each cluster an app file matches one project at most; every app file is an Application
    somewhere (apps/object-storage only in local: dev and prod list what it needs as unsupported)."""
    app_files = sorted(p.parent.name for p in ROOT.glob("apps/*/application.yaml"))
    seen: set[str] = set()
    for env in CLUSTERS:
        names = [a["metadata"]["name"] for a in appset.generated_applications(list(cluster_entry(env)), ROOT)]
        assert len(names) == len(set(names)), f"{env}: an app file matched two projects"
        seen.update(names)
    assert sorted(seen) == app_files, "an app file matched no project in any cluster"


def test_one_applicationset_per_project_and_nothing_else_hand_written(env):
    objects = cluster_entry(env)
    projects = {p["metadata"]["name"] for p in find(objects, "AppProject")}
    appsets = [a["spec"]["template"]["spec"]["project"] for a in find(objects, "ApplicationSet")]
    assert sorted(appsets) == sorted(projects)
    assert [a["metadata"]["name"] for a in find(objects, "Application")] == ["root"]


def test_deleting_an_applicationset_keeps_what_its_applications_deployed(env):
    """Deleting an ApplicationSet deletes its Applications (argoproj/argo-cd #29600); with the
    resources finalizer that would take the namespaces, Argo CD and Airflow's Fernet key with them."""
    for appset_obj in find(cluster_entry(env), "ApplicationSet"):
        assert appset_obj["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is True, appset_obj["metadata"]["name"]


def test_argocd_application_never_uninstalls_argocd(env):
    argocd = next(a for a in find(cluster(env), "Application") if a["metadata"]["name"] == "argocd")
    assert "finalizers" not in argocd["metadata"]


def test_sync_policy_is_written_once_per_project():
    """The shared sync policy (automated prune + selfHeal, retries) lives in each project's
    ApplicationSet; only the root Application, applied by hand at bootstrap, has its own."""
    for app_file in ROOT.glob("apps/*/application.yaml"):
        data = yaml.safe_load(app_file.read_text())
        assert not {"syncPolicy", "automated", "destination", "finalizers", "retry"} & set(data), app_file
    automated = {str(p.relative_to(ROOT)): p.read_text().count("automated:")
                 for p in [*ROOT.glob("apps/**/*.yaml"), *ROOT.glob("clusters/**/*.yaml")]}
    written = {path: n for path, n in automated.items() if n}
    projects = {p["metadata"]["name"] for p in find(cluster_entry("dev"), "AppProject")}
    assert sum(written.values()) == len(projects) + 1, written


def test_applications_of_each_cluster_have_distinct_names(env):
    names = [a["metadata"]["name"] for a in find(cluster(env), "Application")]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("env", CLUSTERS)
def test_no_template_placeholder_is_left_unfilled(env):
    text = yaml.safe_dump(list(cluster(env)))
    for placeholder in ("<no value>", "REPO_URL", "REVISION", "OVERLAY", "COMPONENTS", "UNSUPPORTED", "CLUSTER", "ROOT_PATH"):
        assert placeholder not in text, f"{placeholder} left in clusters/{env}"
