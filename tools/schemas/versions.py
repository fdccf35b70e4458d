"""Read tools/versions.env (plain NAME=value lines, shared with bash and make)."""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=([^\s'\"]+)$")  # no spaces or quotes: bash and make read it too


class VersionsError(ValueError):
    pass


def read_versions(path: Path) -> dict[str, str]:
    versions: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise VersionsError(f"{path}:{lineno}: expected NAME=value without spaces or quotes, got {raw!r}")
        versions[match.group(1)] = match.group(2)
    return versions


def require(versions: dict[str, str], name: str, path: Path) -> str:
    try:
        return versions[name]
    except KeyError:
        raise VersionsError(f"{path}: {name} is not set") from None
