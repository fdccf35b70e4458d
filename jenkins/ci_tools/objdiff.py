"""Diff two lists of Kubernetes objects: added / removed / changed, with field-level changes."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

MISSING = object()
# kustomize's generators append a 10-character content hash to ConfigMap/Secret names.
GENERATED_SUFFIX = re.compile(r"^(?P<stem>.+)-[a-z0-9]{10}$")
HIDDEN_KINDS = {"Secret"}  # never print secret values, even from a rendered diff


@dataclass(frozen=True, order=True)
class ObjectKey:
    kind: str
    namespace: str
    name: str
    group: str = ""

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{kind} {where}"


@dataclass
class FieldChange:
    path: str
    old: object
    new: object


@dataclass
class ObjectChange:
    key: ObjectKey
    fields: list[FieldChange]
    renamed_from: str | None = None


@dataclass
class ObjectDiff:
    added: list[ObjectKey] = field(default_factory=list)
    removed: list[ObjectKey] = field(default_factory=list)
    changed: list[ObjectChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def object_key(obj: dict) -> ObjectKey:
    meta = obj.get("metadata") or {}
    group = obj.get("apiVersion", "").rpartition("/")[0]
    return ObjectKey(obj.get("kind", "?"), meta.get("namespace") or "", meta.get("name") or "?", group)


def _keyed_by_name(items: list) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return len(names) == len(items) and None not in names and len(set(names)) == len(names)


def field_changes(old, new, path: str = "") -> list[FieldChange]:
    """Leaf-level differences; lists of named items (containers, env, ports) are matched by name."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for k in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{k}" if path else str(k)
            changes += field_changes(old.get(k, MISSING), new.get(k, MISSING), sub)
        return changes
    if isinstance(old, list) and isinstance(new, list):
        if old and new and _keyed_by_name(old) and _keyed_by_name(new):
            by_old = {i["name"]: i for i in old}
            by_new = {i["name"]: i for i in new}
            changes = []
            for name in list(by_old) + [n for n in by_new if n not in by_old]:
                changes += field_changes(by_old.get(name, MISSING), by_new.get(name, MISSING), f"{path}[name={name}]")
            return changes
        if len(old) == len(new):
            changes = []
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                changes += field_changes(a, b, f"{path}[{i}]")
            return changes
        # Unnamed items and a new length (rules, destinations, args): report items in or out.
        canon = lambda item: json.dumps(item, sort_keys=True, default=str)  # noqa: E731
        old_set, new_set = {canon(i) for i in old}, {canon(i) for i in new}
        return ([FieldChange(f"{path}[-]", i, MISSING) for i in old if canon(i) not in new_set]
                + [FieldChange(f"{path}[+]", MISSING, i) for i in new if canon(i) not in old_set])
    if old == new:
        return []
    return [FieldChange(path, old, new)]


def _pair_generated_names(removed: list[ObjectKey], added: list[ObjectKey]) -> list[tuple[ObjectKey, ObjectKey]]:
    """Match `cm-<hashA>` removed with `cm-<hashB>` added: the same generated ConfigMap, new content."""
    pairs = []
    for old in list(removed):
        m = GENERATED_SUFFIX.match(old.name)
        if not m:
            continue
        for new in added:
            n = GENERATED_SUFFIX.match(new.name)
            if n and n["stem"] == m["stem"] and (new.kind, new.namespace, new.group) == (old.kind, old.namespace, old.group):
                pairs.append((old, new))
                removed.remove(old)
                added.remove(new)
                break
    return pairs


def diff_objects(base: list[dict], head: list[dict]) -> ObjectDiff:
    old = {object_key(o): o for o in base}
    new = {object_key(o): o for o in head}
    result = ObjectDiff(
        added=sorted(k for k in new if k not in old),
        removed=sorted(k for k in old if k not in new),
    )
    compare = [(k, k) for k in sorted(old) if k in new]
    renamed = _pair_generated_names(result.removed, result.added)
    for old_key, new_key in compare + renamed:
        changes = field_changes(old[old_key], new[new_key])
        if old_key != new_key:
            changes = [c for c in changes if c.path != "metadata.name"]
        if changes or old_key != new_key:
            result.changed.append(ObjectChange(new_key, changes, old_key.name if old_key != new_key else None))
    result.changed.sort(key=lambda c: c.key)
    return result


def _show(value) -> str:
    """Scalars in full (an image reference must be readable to the end); structures shortened."""
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    limit = 400 if isinstance(value, (str, int, float, bool)) or value is None else 160
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_change(change: FieldChange, kind: str) -> list[str]:
    if kind in HIDDEN_KINDS and (change.path.startswith("data") or change.path.startswith("stringData")):
        return [f"{change.path}: (value changed, hidden)"]
    if change.old is MISSING:
        return [f"{change.path}: added {_show(change.new)}"]
    if change.new is MISSING:
        return [f"{change.path}: removed (was {_show(change.old)})"]
    if isinstance(change.old, str) and isinstance(change.new, str) and ("\n" in change.old or "\n" in change.new):
        lines = difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), lineterm="", n=1)
        return [f"{change.path}: text changed"] + [f"  {line}" for line in list(lines)[2:]]
    return [f"{change.path}: {_show(change.old)} -> {_show(change.new)}"]


def format_diff(diff: ObjectDiff) -> list[str]:
    if diff.empty:
        return ["no changes"]
    lines = [f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed"]
    lines += [f"+ added   {key}" for key in diff.added]
    lines += [f"- removed {key}" for key in diff.removed]
    for change in diff.changed:
        renamed = f" (generated name, was {change.renamed_from})" if change.renamed_from else ""
        lines.append(f"~ changed {change.key}{renamed}")
        for fc in change.fields:
            lines += [f"      {line}" for line in format_change(fc, change.key.kind)]
    return lines
