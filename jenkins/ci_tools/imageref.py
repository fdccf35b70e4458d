"""Validation of image names, tags and digests (the grammar of the OCI distribution spec)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ci_tools.errors import BadInput

# Tag grammar from the OCI distribution spec: at most 128 chars, no leading '.' or '-'.
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# We only ever record sha256 digests (what kaniko and registries return).
DIGEST_PATTERN = re.compile(r"^sha256:[a-f0-9]{64}$")
# registry[:port]/path components, lower-case, as kustomize `images[].name` holds them.
NAME_PATTERN = re.compile(
    r"^(?:[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


@dataclass(frozen=True)
class ImageBump:
    """One image to set: `name` as it appears in `images[].name`, plus a tag and/or digest."""

    name: str
    tag: str | None = None
    digest: str | None = None

    def reference(self) -> str:
        """name[:tag][@digest], the form written into commit trailers."""
        ref = self.name
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


def validate_bump(bump: ImageBump) -> ImageBump:
    """Reject malformed input before anything is touched."""
    if not NAME_PATTERN.match(bump.name):
        raise BadInput(f"image {bump.name!r}: not a valid image name (lower-case registry/path, no tag)")
    if bump.tag is None and bump.digest is None:
        raise BadInput(f"image {bump.name!r}: give a tag, a digest or both")
    if bump.tag is not None and not TAG_PATTERN.match(bump.tag):
        raise BadInput(
            f"image {bump.name!r}: tag {bump.tag!r} is malformed "
            "(1-128 chars of [A-Za-z0-9_.-], not starting with '.' or '-')"
        )
    if bump.tag == "latest":
        raise BadInput(f"image {bump.name!r}: tag 'latest' is not allowed (tags must be immutable)")
    if bump.digest is not None and not DIGEST_PATTERN.match(bump.digest):
        raise BadInput(f"image {bump.name!r}: digest {bump.digest!r} is malformed (expected sha256:<64 hex>)")
    return bump


def parse_reference(text: str) -> ImageBump:
    """Parse `name[:tag][@sha256:...]` into an ImageBump (validated)."""
    rest, _, digest = text.partition("@")
    name, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:  # a ':' after the last '/' is a tag, before it a registry port
        name, tag = rest.rsplit(":", 1)
    return validate_bump(ImageBump(name=name, tag=tag, digest=digest or None))
