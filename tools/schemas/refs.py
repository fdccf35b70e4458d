"""Walk JSON schemas and their $refs (used to make standalone, self-contained schema files)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Json = Any


def iter_refs(node: Json) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def map_refs(node: Json, rewrite: Callable[[str], str]) -> Json:
    """Copy of ``node`` with every $ref string passed through ``rewrite``."""
    if isinstance(node, dict):
        return {
            key: rewrite(value) if key == "$ref" and isinstance(value, str) else map_refs(value, rewrite)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [map_refs(item, rewrite) for item in node]
    return node


def closure(roots: Json, definitions: dict[str, Json], name_of: Callable[[str], str | None]) -> list[str]:
    """Names of all definitions reachable from ``roots`` (sorted); ``name_of`` maps a $ref to a name."""
    seen: set[str] = set()
    pending = [roots]
    while pending:
        for ref in iter_refs(pending.pop()):
            name = name_of(ref)
            if name is None or name in seen:
                continue
            if name not in definitions:
                raise KeyError(f"$ref {ref!r} names no definition")
            seen.add(name)
            pending.append(definitions[name])
    return sorted(seen)
