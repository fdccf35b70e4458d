"""The gate builds a cluster's kustomize components the way Argo CD does (tools/gate/units.py):
`kustomize edit add component` in the Application's path, so an overlay's own patches apply after
the component. Rendering the component after the overlay instead showed clusters/local's Argo CD
login where Argo CD applied dev's."""
from __future__ import annotations

from pathlib import Path

from tools.gate import paths, units
from tools.gate.render import render

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n{data}"


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def checkout(root: Path) -> Path:
    write(root, "apps/demo/base/kustomization.yaml", "resources: [settings.yaml]\n")
    write(root, "apps/demo/base/settings.yaml", CONFIGMAP.format(data="  a: base\n  b: base\n"))
    write(root, "apps/demo/overlays/dev/kustomization.yaml",
          "resources: [../../base]\npatches:\n  - path: a.yaml\n")
    write(root, "apps/demo/overlays/dev/a.yaml", CONFIGMAP.format(data="  a: dev\n"))
    write(root, "clusters/x/laptop/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n  - path: ab.yaml\n")
    write(root, "clusters/x/laptop/ab.yaml", CONFIGMAP.format(data="  a: laptop\n  b: laptop\n"))
    return root


def build(root: Path) -> Path:
    return units._as_argocd_builds(root, "x", "demo", "apps/demo/overlays/dev", ["../../../../clusters/x/laptop"],
                                   units._sources(root))


def test_an_overlays_own_patch_applies_after_the_clusters_component(tmp_path):
    unit = build(checkout(tmp_path))
    data = render(unit)[0]["data"]
    assert data == {"a": "dev", "b": "laptop"}, "Argo CD's order: components, then the overlay's patches"
    # The checkout itself is never edited; the copy is.
    assert "components" not in (tmp_path / "apps/demo/overlays/dev/kustomization.yaml").read_text()
    assert "clusters/x/laptop" in (unit / "kustomization.yaml").read_text()


def test_the_copy_follows_every_change_of_the_sources(tmp_path):
    root = checkout(tmp_path)
    build(root)
    write(root, "clusters/x/laptop/ab.yaml", CONFIGMAP.format(data="  b: changed\n"))
    assert render(build(root))[0]["data"] == {"a": "dev", "b": "changed"}


def test_a_component_argocd_cannot_add_names_the_application(tmp_path):
    root = checkout(tmp_path)
    try:
        units._as_argocd_builds(root, "x", "demo", "apps/demo/overlays/dev", ["../../missing"], units._sources(root))
    except units.RenderError as error:
        assert "apps/demo/overlays/dev" in str(error) and "Application demo of cluster x" in str(error)
    else:
        raise AssertionError("a missing component was added")


def test_files_of_a_copy_are_named_as_the_repository_files():
    copy = paths.ROOT / ".run" / "units" / "local" / "argocd" / "apps" / "argocd" / "base" / "argocd-cm.yaml"
    assert paths.rel(copy) == "apps/argocd/base/argocd-cm.yaml"
    assert paths.rel(paths.ROOT / "apps" / "argocd") == "apps/argocd"
