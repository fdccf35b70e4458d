"""What a cluster runs: the `images:` entry its overlays hold for one image, now or at a past commit.

Shared by `promote` (copy one cluster's version to another) and `rollback` (restore the version
before a bump). Both write through the bump code, so they edit and validate exactly as `bump` does.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ci_tools import git
from ci_tools.errors import BadInput
from ci_tools.imageref import ImageBump, validate_bump
from ci_tools.overlay_images import image_names, known_clusters, overlay_files


def check_cluster(repo: Path, cluster: str) -> None:
    available = known_clusters(repo)
    if cluster not in available:
        raise BadInput(f"cluster {cluster!r} is unknown: {repo / 'clusters'} has {available or 'no clusters'}")


def resolve_image(repo: Path, image: str, cluster: str) -> str:
    """Accept the full `images[].name` or its last path part (`spark-etl`) when that is unambiguous."""
    names = sorted({n for f in overlay_files(repo, cluster) for n in image_names(f) if n})
    if image in names:
        return image
    matches = [n for n in names if n.rsplit("/", 1)[-1] == image]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise BadInput(f"image {image!r} is ambiguous in cluster {cluster!r}: give one of {matches}")
    validate_bump(ImageBump(name=image, tag="x"))  # a malformed name gets the name error first
    raise BadInput(
        f"image {image!r} is not in the `images:` list of any overlay of cluster {cluster!r} "
        f"(it lists: {', '.join(names) or 'no images'})"
    )


def entry_fields(entry: dict) -> ImageBump:
    return ImageBump(name=entry["name"], tag=_as_text(entry.get("newTag")), digest=_as_text(entry.get("digest")))


def _as_text(value) -> str | None:
    return None if value is None else str(value)


def entry_in_text(text: str, image: str) -> dict | None:
    data = yaml.safe_load(text) or {}
    for entry in data.get("images") or []:
        if isinstance(entry, dict) and entry.get("name") == image:
            return entry
    return None


def image_files(repo: Path, image: str, cluster: str) -> list[Path]:
    """The cluster's overlay kustomization files that list the image."""
    return [f for f in overlay_files(repo, cluster) if image in image_names(f)]


def running_version(repo: Path, image: str, cluster: str) -> ImageBump:
    """The single tag/digest the cluster's overlays set for the image; BadInput when they disagree."""
    found: dict[str, ImageBump] = {}
    for path in image_files(repo, image, cluster):
        found[str(path.relative_to(repo))] = entry_fields(entry_in_text(path.read_text(), image))
    if not found:
        raise BadInput(f"image {image!r} is not in the `images:` list of any overlay of cluster {cluster!r}")
    versions = set(found.values())
    if len(versions) > 1:
        detail = "; ".join(f"{path}: {version_label(v)}" for path, v in found.items())
        raise BadInput(f"the overlays of cluster {cluster!r} disagree on {image!r} ({detail}); make them equal first")
    version = versions.pop()
    if version.tag is None and version.digest is None:
        raise BadInput(f"{', '.join(found)}: images entry {image!r} has neither newTag nor digest")
    return validate_bump(version)


def entry_at(repo: Path, rev: str, rel_path: str, image: str) -> dict | None:
    """The images entry in rel_path as of commit rev (None when the file or the entry is absent)."""
    proc = git.run(repo, "show", f"{rev}:{rel_path}", check=False)
    if proc.returncode != 0:
        return None
    return entry_in_text(proc.stdout, image)


def version_label(version: ImageBump) -> str:
    """tag, tag@sha256:<12 hex> or sha256:<12 hex>: short enough for a commit subject."""
    short_digest = version.digest[:19] if version.digest else None
    if version.tag and short_digest:
        return f"{version.tag}@{short_digest}"
    return version.tag or short_digest or "(no tag or digest)"


def short_name(image: str) -> str:
    return image.rsplit("/", 1)[-1]
