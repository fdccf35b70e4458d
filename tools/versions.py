"""tools/versions.env, the one file of pinned tool versions: the one reader of it in Python.

The file is plain NAME=value lines (no spaces, no quotes) so bash can `source` it and make can
`include` it; this module is what every Python tool and test reads it with.
"""
from __future__ import annotations

import re
from pathlib import Path

VERSIONS_FILE = Path(__file__).resolve().parent / "versions.env"
_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=([^\s'\"]+)$")  # no spaces or quotes: bash and make read it too


class VersionsError(ValueError):
    pass


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
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


def require(versions: dict[str, str], name: str, path: Path = VERSIONS_FILE) -> str:
    try:
        return versions[name]
    except KeyError:
        raise VersionsError(f"{path}: {name} is not set") from None


def pin(name: str) -> str:
    """One pin from this checkout's tools/versions.env; VersionsError when it is not there."""
    return require(read_versions(), name)
