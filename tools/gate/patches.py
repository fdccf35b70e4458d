"""Find kustomize patches that address a list element by its position, and replacements that fill
a value by its position (in a list, or in a delimited string).

A JSON 6902 operation such as `/spec/template/spec/containers/0/args/-` changes whatever happens to
sit at that index: one reorder upstream and the patch silently edits the wrong thing. Patches in
this repository are strategic-merge files shaped like the object (lists of containers merge by
name), JSON 6902 on paths without list positions, or kustomize replacements addressed by name that
set whole values (never `options: {delimiter, index}`, which edits the n-th piece of a string).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class IndexedOp:
    kustomization: str  # repo-relative file that declares the patch
    op: str
    path: str


def kustomization_files(root: Path, folders: tuple[str, ...] = ("apps", "clusters")) -> list[Path]:
    found = []
    for folder in folders:
        for name in KUSTOMIZATION_NAMES:
            found += (root / folder).rglob(name)
    return sorted(found)


def _json6902_ops(text: str) -> list[dict]:
    """The operations of a JSON 6902 patch, or [] when the text is a strategic-merge patch."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    if isinstance(doc, list) and all(isinstance(op, dict) and "op" in op for op in doc):
        return doc
    return []


def is_positional(pointer: str) -> bool:
    """True when a JSON pointer names a list element by its index (`/containers/0/...`).

    A final `-` (append to the list) is not positional: it adds after whatever is there and
    cannot hit the wrong element when the list is reordered.
    """
    parts = pointer.split("/")[1:]
    return any(part.isdigit() for part in parts) or "-" in parts[:-1]


def _patch_texts(kustomization: Path) -> list[str]:
    data = yaml.safe_load(kustomization.read_text()) or {}
    texts = []
    for entry in [*(data.get("patches") or []), *(data.get("patchesJson6902") or [])]:
        if isinstance(entry, str):
            entry = {"path": entry}
        if "patch" in entry:
            texts.append(entry["patch"])
        elif "path" in entry and (kustomization.parent / entry["path"]).is_file():
            texts.append((kustomization.parent / entry["path"]).read_text())
    return texts


def index_addressed_ops(root: Path) -> list[IndexedOp]:
    found = []
    for kustomization in kustomization_files(root):
        for text in _patch_texts(kustomization):
            for op in _json6902_ops(text):
                pointers = [op.get("path", ""), op.get("from", "")]
                if any(p and is_positional(p) for p in pointers):
                    found.append(IndexedOp(str(kustomization.relative_to(root)), op["op"], op["path"]))
    return found


@dataclass(frozen=True)
class PositionalReplacement:
    kustomization: str  # repo-relative file that declares the replacement
    field_path: str
    why: str


def _positional_field_path(field_path: str) -> bool:
    """`spec.containers.0.image` names a list element by index; `[name=x]` and `*` do not."""
    return any(part.isdigit() for part in field_path.split("."))


def positional_replacements(root: Path) -> list[PositionalReplacement]:
    found = []
    for kustomization in kustomization_files(root):
        data = yaml.safe_load(kustomization.read_text()) or {}
        rel = str(kustomization.relative_to(root))
        for replacement in data.get("replacements") or []:
            source_path = (replacement.get("source") or {}).get("fieldPath", "")
            if _positional_field_path(source_path):
                found.append(PositionalReplacement(rel, source_path, "source names a list element by index"))
            for target in replacement.get("targets") or []:
                options = target.get("options") or {}
                for field_path in target.get("fieldPaths") or []:
                    if "index" in options or "delimiter" in options:
                        found.append(PositionalReplacement(rel, field_path, "fills one piece of a delimited string"))
                    elif _positional_field_path(field_path):
                        found.append(PositionalReplacement(rel, field_path, "names a list element by index"))
    return found
