"""Roll back one image in one cluster to the version before its last bump or promotion.

    python -m ci_tools.rollback --image spark-etl --cluster prod [--push]

The last bump is the newest commit that carries a `Bumped-Image:` (CI bump) or `Promoted-Image:`
(promotion) trailer for the image and changed its `images:` entry in the cluster's overlays. Only
that cluster's files go back to the entry they had before that commit; other clusters keep what
they run. A bump already rolled back (a `Reverts:` trailer of an earlier rollback for the same image
and cluster) is skipped, so running it again steps one more version back.

Exit 0: rolled back (or already at that version). Exit 2: bad input, nothing changed.
Exit 1: validation, git or push failure (a failed gate restores the files; a failed push keeps the
local commit and says so).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ci_tools import git
from ci_tools.bump import TRAILER as BUMP_TRAILER
from ci_tools.bump import Plan, apply_validate_commit, push_with_retry
from ci_tools.cluster_images import (
    check_cluster,
    entry_at,
    entry_fields,
    entry_in_text,
    image_files,
    resolve_image,
    short_name,
    version_label,
)
from ci_tools.errors import EXIT_OK, BadInput, reports_errors
from ci_tools.imageref import ImageBump, parse_reference, validate_bump
from ci_tools.overlay_images import apply_bump
from ci_tools.promote import TRAILER_IMAGE as PROMOTE_TRAILER
from ci_tools.promote import check_human_author

TRAILER_IMAGE = "Rolled-Back-Image"
TRAILER_CLUSTER = "Rolled-Back-Cluster"
TRAILER_REVERTS = "Reverts"


@dataclass
class LastBump:
    commit: str
    subject: str
    previous: dict[str, ImageBump] = field(default_factory=dict)  # repo-relative file -> entry before


@dataclass
class Rollback:
    image: str
    cluster: str
    bump: LastBump
    commit: str | None = None  # None: the cluster already runs the previous version
    pushed: bool = False


def _trailers(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def _names_image(trailers: list[tuple[str, str]], image: str) -> bool:
    for key, value in trailers:
        if key in (BUMP_TRAILER, PROMOTE_TRAILER):
            try:
                if parse_reference(value).name == image:
                    return True
            except BadInput:
                continue  # a hand-written trailer we cannot read is not a bump of this image
    return False


def find_last_bump(repo: Path, image: str, cluster: str) -> LastBump:
    """Walk the history of the cluster's overlay files, newest first."""
    files = [str(p.relative_to(repo)) for p in image_files(repo, image, cluster)]
    log = git.run(repo, "log", "--format=%H%x1f%s%x1f%(trailers:only,unfold)%x1e", "--", *files).stdout
    rolled_back: set[str] = set()
    for record in log.split("\x1e"):
        if not record.strip():
            continue
        sha, subject, trailer_text = record.strip("\n").split("\x1f")
        trailers = _trailers(trailer_text)
        values = dict(trailers)
        if values.get(TRAILER_IMAGE) == image and values.get(TRAILER_CLUSTER) == cluster:
            rolled_back.add(values.get(TRAILER_REVERTS, ""))
            continue
        if sha in rolled_back or not _names_image(trailers, image):
            continue
        previous = {}
        for rel in files:
            before, after = entry_at(repo, f"{sha}^", rel, image), entry_at(repo, sha, rel, image)
            if before == after:
                continue
            if before is None:
                raise BadInput(f"commit {sha[:12]} ({subject!r}) added {image!r} to {rel}: "
                               "there is no earlier version to roll back to")
            previous[rel] = entry_fields(before)
        if previous:
            return LastBump(commit=sha, subject=subject, previous=previous)
    raise BadInput(f"no bump of {image!r} in cluster {cluster!r} found: no commit with a "
                   f"`{BUMP_TRAILER}:` or `{PROMOTE_TRAILER}:` trailer for it changed {', '.join(files)}")


def plan_rollback(repo: Path, image: str, bump: LastBump) -> Plan:
    plan = Plan()
    for rel, version in bump.previous.items():
        if version.tag is None and version.digest is None:
            raise BadInput(f"{rel}: before commit {bump.commit[:12]} the images entry {image!r} had neither "
                           "newTag nor digest; set the version with `make bump` instead")
        path = repo / rel
        if entry_in_text(path.read_text(), image) is None:
            continue  # the entry was removed since; nothing of this bump is left in that file
        new_text = apply_bump(path.read_text(), validate_bump(version), Path(rel))
        if new_text != path.read_text():
            plan.changes[path] = new_text
    return plan


def previous_label(bump: LastBump) -> str:
    return ", ".join(sorted({version_label(v) for v in bump.previous.values()}))


def commit_message(r: Rollback) -> str:
    name, previous = short_name(r.image), previous_label(r.bump)
    return (
        f"Roll back {name} in {r.cluster} to {previous} (reverts {r.bump.commit[:12]})\n\n"
        f"Restores the {r.cluster} overlays' images entry for {r.image} to what it was before\n"
        f"{r.bump.commit[:12]} (\"{r.bump.subject}\"). Other clusters keep what they run.\n\n"
        f"{TRAILER_IMAGE}: {r.image}\n"
        f"{TRAILER_CLUSTER}: {r.cluster}\n"
        f"{TRAILER_REVERTS}: {r.bump.commit}\n"
    )


def rollback(repo: Path, image: str, cluster: str, *, push: bool = False, remote: str = "origin",
             attempts: int = 5, backoff: float = 0.3) -> Rollback:
    check_cluster(repo, cluster)
    image = resolve_image(repo, image, cluster)
    dirty = git.dirty_paths(repo)
    if dirty:
        raise BadInput(f"{repo}: working tree is dirty ({', '.join(dirty[:5])}); commit or remove the changes first")
    branch = git.run(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if push and not branch:
        raise BadInput(f"{repo}: HEAD is detached; check out the branch to push the rollback to")
    result = Rollback(image=image, cluster=cluster, bump=find_last_bump(repo, image, cluster))
    check_human_author(repo)

    def edit_and_commit() -> bool:
        plan = plan_rollback(repo, image, result.bump)
        if not plan.changes:
            return False
        apply_validate_commit(repo, plan, commit_message(result), bot=False)
        return True

    if not edit_and_commit():
        return result
    result.commit = git.head(repo)
    if push:
        push_with_retry(repo, edit_and_commit, remote, branch, attempts, backoff, bot=False)
        result.commit, result.pushed = git.head(repo), True
    return result


def report(r: Rollback, remote: str) -> str:
    name, previous = short_name(r.image), previous_label(r.bump)
    if r.commit is None:
        return (f"rollback: {r.cluster} already runs {name} {previous}, the version before "
                f"{r.bump.commit[:12]} ({r.bump.subject}); nothing to roll back")
    line = f"rollback: {name} in {r.cluster} back to {previous} (reverts {r.bump.commit[:12]}): commit {r.commit[:12]}"
    if r.pushed:
        return f"{line}\npushed to {remote}; Argo CD syncs {r.cluster} to {previous}."
    return f"{line}\nnot pushed. Next: `git push {remote} HEAD` (or run with PUSH=1); Argo CD then syncs {r.cluster}."


@reports_errors("rollback")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollback", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--image", required=True, help="images[].name, or its last part (spark-etl)")
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--push", action="store_true", help="push the rollback commit to the current branch")
    parser.add_argument("--remote", default="origin")
    args = parser.parse_args(argv)
    if not args.image.strip() or not args.cluster.strip():
        raise BadInput("give IMAGE and CLUSTER, e.g. `make rollback IMAGE=spark-etl CLUSTER=prod`")
    result = rollback(git.toplevel(args.repo), args.image.strip(), args.cluster.strip(),
                      push=args.push, remote=args.remote)
    print(report(result, args.remote))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
