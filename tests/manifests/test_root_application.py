"""The root Application (app of apps) of each cluster syncs that cluster's own folder, filled in from
the cluster's settings as a whole value (`rootPath`), not pieced together by position in a string."""
from __future__ import annotations

from platform_render import ROOT, cluster_entry, find

from tools import clusters


def root_source(env: str) -> dict:
    (root,) = [a for a in find(cluster_entry(env), "Application") if a["metadata"]["name"] == "root"]
    (platform,) = [s for s in root["spec"]["sources"] if s.get("name") == "platform"]
    return platform


def test_root_syncs_the_clusters_own_folder(env):
    path = root_source(env)["path"]
    assert path == f"clusters/{env}"
    assert (ROOT / path / "kustomization.yaml").is_file()


def test_root_path_is_the_rootpath_setting_verbatim(env):
    assert root_source(env)["path"] == clusters.settings(env, ROOT)["rootPath"]


def test_root_reads_this_repository_at_the_clusters_revision(env):
    settings = clusters.settings(env, ROOT)
    source = root_source(env)
    assert (source["repoURL"], source["targetRevision"]) == (settings["repoURL"], settings["revision"])
