"""Find and edit the kustomize `images:` entries of the cluster overlays.

Edits are made on the text, at the positions PyYAML's composer reports for each node, so comments,
key order and quoting elsewhere in the file stay byte-for-byte as they were. Every edit is checked by
re-parsing: the result must equal the old document with only the one images entry changed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from ci_tools.errors import BadInput
from ci_tools.imageref import ImageBump
from tools.gate import paths as gate_paths

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
IMAGE_FIELDS = ("newTag", "digest")


def known_clusters(repo: Path) -> list[str]:
    """The clusters the static gate sees in this checkout (clusters/<env>/kustomization.yaml)."""
    return gate_paths.clusters(repo)


def overlay_files(repo: Path, cluster: str) -> list[Path]:
    """Every kustomization file that can set the cluster's images: apps/<app>/overlays/<cluster>,
    and the components kept under clusters/<cluster>/ (clusters/local/laptop points the local
    cluster's images at its registry on top of the dev overlays)."""
    folders = sorted((repo / "apps").glob(f"*/overlays/{cluster}"))
    folders += sorted(p for p in (repo / "clusters" / cluster).rglob("*") if p.is_dir())
    found = []
    for folder in folders:
        for name in KUSTOMIZATION_NAMES:
            if (folder / name).is_file():
                found.append(folder / name)
                break
    return found


def image_names(path: Path) -> list[str]:
    """The `images[].name` values of one kustomization file."""
    data = yaml.safe_load(path.read_text()) or {}
    return [entry.get("name") for entry in data.get("images") or [] if isinstance(entry, dict)]


@dataclass
class _Edit:
    start: int
    end: int
    text: str


def _scalar_text(value: str) -> str:
    """Plain scalar when YAML reads it back as the same string, else double-quoted (e.g. '1234567')."""
    if yaml.safe_load(f"k: {value}") == {"k": value}:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _find_entry(root: yaml.Node, image: str, path: Path) -> yaml.MappingNode | None:
    if not isinstance(root, yaml.MappingNode):
        raise BadInput(f"{path}: top level is not a mapping")
    for key, value in root.value:
        if key.value != "images":
            continue
        if not isinstance(value, yaml.SequenceNode) or value.flow_style:
            raise BadInput(f"{path}: `images` must be a block-style list to be edited")
        for item in value.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            names = [v.value for k, v in item.value if k.value == "name"]
            if names == [image]:
                if item.flow_style:
                    raise BadInput(f"{path}: images entry {image!r} must be block style to be edited")
                return item
    return None


def _entry_edits(text: str, entry: yaml.MappingNode, bump: ImageBump, path: Path) -> list[_Edit]:
    desired = {"newTag": bump.tag, "digest": bump.digest}
    present = {k.value: (k, v) for k, v in entry.value}
    first_key = entry.value[0][0]
    indent = " " * first_key.start_mark.column
    edits: list[_Edit] = []
    insert_at = _line_end(text, entry.value[-1][1].end_mark.index)
    for field in IMAGE_FIELDS:
        want = desired[field]
        if field in present:
            key, value = present[field]
            if key.start_mark.line != value.end_mark.line:
                raise BadInput(f"{path}: images entry {bump.name!r}: `{field}` must be on one line to be edited")
            if want is None:
                if key is first_key:
                    raise BadInput(f"{path}: images entry {bump.name!r}: put `name` first so `{field}` can be removed")
                start = _line_start(text, key.start_mark.index)
                edits.append(_Edit(start, _line_end(text, value.end_mark.index) + 1, ""))
            elif value.value != want:
                edits.append(_Edit(value.start_mark.index, value.end_mark.index, _scalar_text(want)))
        elif want is not None:
            edits.append(_Edit(insert_at, insert_at, f"\n{indent}{field}: {_scalar_text(want)}"))
    return edits


def apply_bump(text: str, bump: ImageBump, path: Path) -> str | None:
    """Return the new file text, or None when the file has no images entry for this image.

    When only a tag is given an old digest is removed (and vice versa), because kustomize would
    otherwise keep pulling by the stale field.
    """
    root = yaml.compose(text)
    entry = _find_entry(root, bump.name, path) if root is not None else None
    if entry is None:
        return None
    edits = _entry_edits(text, entry, bump, path)
    new_text = text
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        new_text = new_text[: edit.start] + edit.text + new_text[edit.end :]
    _check_only_entry_changed(text, new_text, bump, path)
    return new_text


def _check_only_entry_changed(old_text: str, new_text: str, bump: ImageBump, path: Path) -> None:
    expected = copy.deepcopy(yaml.safe_load(old_text))
    for entry in expected["images"]:
        if isinstance(entry, dict) and entry.get("name") == bump.name:
            for field, value in (("newTag", bump.tag), ("digest", bump.digest)):
                if value is None:
                    entry.pop(field, None)
                else:
                    entry[field] = value
    actual = yaml.safe_load(new_text)
    if actual != expected:
        raise RuntimeError(f"{path}: internal error: text edit of images entry {bump.name!r} changed more than it should")
