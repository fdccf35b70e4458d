"""Patches are shaped like what they change: no kustomize patch in apps/ or clusters/ addresses a
list element by its position, and no replacement fills a value by position (tools/gate/patches.py)."""
from __future__ import annotations

from pathlib import Path

from platform_render import ROOT

from tools.gate.patches import index_addressed_ops, is_positional, positional_replacements


def test_no_patch_addresses_a_list_element_by_position():
    found = index_addressed_ops(ROOT)
    assert found == [], "patch by name instead (strategic merge file, or a replacement with [name=...]):\n" + \
        "\n".join(f"{o.kustomization}: {o.op} {o.path}" for o in found)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_scan_finds_inline_and_file_patches_that_use_positions(tmp_path):
    _write(tmp_path, {
        "apps/demo/overlays/dev/kustomization.yaml": (
            "resources: [../../base]\n"
            "patches:\n"
            "  - target: {kind: Deployment, name: web}\n"
            "    patch: |-\n"
            "      - op: add\n"
            "        path: /spec/template/spec/containers/0/args/-\n"
            "        value: --flag\n"
            "  - path: receivers.yaml\n"
            "    target: {kind: AlertmanagerConfig}\n"
            "  - path: shaped.yaml\n"),
        "apps/demo/overlays/dev/receivers.yaml": "- op: replace\n  path: /spec/receivers/1/emailConfigs/0/to\n  value: x\n",
        "apps/demo/overlays/dev/shaped.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n"),
        "clusters/dev/kustomization.yaml": "patchesJson6902:\n  - target: {kind: X, name: y}\n    path: moved.yaml\n",
        "clusters/dev/moved.yaml": "- op: move\n  from: /spec/items/2\n  path: /spec/first\n",
    })
    found = {(o.kustomization, o.path) for o in index_addressed_ops(tmp_path)}
    assert found == {
        ("apps/demo/overlays/dev/kustomization.yaml", "/spec/template/spec/containers/0/args/-"),
        ("apps/demo/overlays/dev/kustomization.yaml", "/spec/receivers/1/emailConfigs/0/to"),
        ("clusters/dev/kustomization.yaml", "/spec/first"),
    }


def test_appending_and_plain_paths_are_not_positional():
    assert not is_positional("/spec/metrics/-")
    assert not is_positional("/spec/replicas")
    assert not is_positional("/metadata/annotations/argocd.argoproj.io~1sync-wave")
    assert is_positional("/spec/sources/0/path")
    assert is_positional("/spec/-/name")


def test_no_replacement_fills_a_value_by_position():
    found = positional_replacements(ROOT)
    assert found == [], "replace whole values, addressed by name:\n" + \
        "\n".join(f"{r.kustomization}: {r.field_path} ({r.why})" for r in found)


def test_the_scan_finds_replacements_by_string_piece_or_list_index(tmp_path):
    _write(tmp_path, {
        "apps/argocd/components/settings/kustomization.yaml": (
            "kind: Component\n"
            "replacements:\n"
            "  - source: {kind: ConfigMap, name: s, fieldPath: data.cluster}\n"
            "    targets:\n"
            "      - select: {kind: Application, name: root}\n"
            "        fieldPaths: [\"spec.sources.[name=platform].path\"]\n"
            "        options: {delimiter: /, index: 1}\n"
            "      - select: {kind: Application}\n"
            "        fieldPaths: [spec.sources.0.targetRevision, \"spec.sources.[name=platform].repoURL\"]\n"
            "  - source: {kind: ConfigMap, name: s, fieldPath: data.url}\n"
            "    targets:\n"
            "      - select: {kind: ApplicationSet}\n"
            "        fieldPaths: [spec.generators.*.git.repoURL]\n"),
    })
    found = {(r.field_path, r.why) for r in positional_replacements(tmp_path)}
    assert found == {
        ("spec.sources.[name=platform].path", "fills one piece of a delimited string"),
        ("spec.sources.0.targetRevision", "names a list element by index"),
    }
