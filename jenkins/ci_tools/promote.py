"""Promote an image: give the target cluster exactly the tag/digest the source cluster runs.

    python -m ci_tools.promote --image spark-etl [--from dev] [--to prod] [--push]

A promotion is a human decision reviewed in a pull request, so the commit goes on a new branch
`promote/<image>-<version>`, authored by whoever runs it (never the CI bot, no skip marker), with
`Promoted-*` trailers that `rollback` recognises. The edit and the gate are the bump tool's own.

Exit 0: promoted (or the target already runs that version). Exit 2: bad input, nothing changed.
Exit 1: validation or git failure (the working tree and branch are left as they were).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ci_tools import git
from ci_tools.bump import apply_validate_commit, plan_bumps
from ci_tools.cluster_images import check_cluster, resolve_image, running_version, short_name, version_label
from ci_tools.errors import EXIT_OK, BadInput, ToolFailure, reports_errors
from ci_tools.imageref import ImageBump

TRAILER_IMAGE = "Promoted-Image"


@dataclass
class Promotion:
    image: str
    version: ImageBump
    source: str
    target: str
    branch: str | None = None  # None: the target already ran this version
    commit: str | None = None
    pushed: bool = False


def branch_name(version: ImageBump) -> str:
    """promote/<image>-<tag>; a digest-only version uses sha256-<12 hex> (':' is not allowed in refs)."""
    label = version.tag or version.digest.replace(":", "-")[:19]
    return f"promote/{short_name(version.name)}-{label}"


def commit_message(p: Promotion) -> str:
    name = short_name(p.image)
    return (
        f"Promote {name} {version_label(p.version)} from {p.source} to {p.target}\n\n"
        f"Sets {p.image} in the {p.target} overlays to {p.version.reference()},\n"
        f"the version {p.source} runs now. Argo CD deploys it to {p.target} once this is merged.\n\n"
        f"{TRAILER_IMAGE}: {p.version.reference()}\n"
        f"Promoted-From: {p.source}\n"
        f"Promoted-To: {p.target}\n"
    )


def check_human_author(repo: Path) -> None:
    """The commit must carry the reviewer-visible name of the person promoting, not the bot's."""
    ident = git.run(repo, "var", "GIT_AUTHOR_IDENT", check=False)
    if ident.returncode != 0:
        raise BadInput(f"{repo}: git has no author identity: set user.name and user.email (git config) first")
    name = re.sub(r"\s*<.*$", "", ident.stdout.strip())
    if name == git.BOT_NAME:
        raise BadInput(f"{repo}: the git author is the CI bot {git.BOT_NAME!r}; a promotion is committed by a person")


def promote(repo: Path, image: str, source: str, target: str, *, push: bool = False, remote: str = "origin") -> Promotion:
    for cluster in (source, target):
        check_cluster(repo, cluster)
    if source == target:
        raise BadInput(f"--from and --to are both {source!r}: promote between two different clusters")
    image = resolve_image(repo, image, source)
    resolve_image(repo, image, target)  # the target must list the image too
    dirty = git.dirty_paths(repo)
    if dirty:
        raise BadInput(f"{repo}: working tree is dirty ({', '.join(dirty[:5])}); commit or remove the changes first")
    version = running_version(repo, image, source)
    result = Promotion(image=image, version=version, source=source, target=target)
    plan = plan_bumps(repo, [version], [target])
    if not plan.changes:
        return result
    check_human_author(repo)
    branch = branch_name(version)
    if git.run(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0:
        raise BadInput(f"branch {branch!r} already exists: delete it (git branch -D {branch}) or finish that promotion")
    start_branch = git.run(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    go_back = ["switch", "--quiet", start_branch] if start_branch else ["switch", "--quiet", "--detach", git.head(repo)]
    git.run(repo, "switch", "--quiet", "-c", branch)
    try:
        apply_validate_commit(repo, plan, commit_message(result), bot=False)
    except ToolFailure:  # leave no half-made promotion behind
        git.run(repo, *go_back)
        git.run(repo, "branch", "--quiet", "-D", branch)
        raise
    result.branch, result.commit = branch, git.head(repo)
    if push:
        git.run(repo, "push", "--quiet", "--set-upstream", remote, f"{branch}:refs/heads/{branch}")
        result.pushed = True
    return result


def report(p: Promotion, remote: str) -> str:
    what = f"{short_name(p.image)} {version_label(p.version)}"
    if p.branch is None:
        return f"promote: {p.target} already runs {what} (as {p.source} does); nothing to promote"
    lines = [f"promote: {what} from {p.source} to {p.target}: commit {p.commit[:12]} on branch {p.branch}"]
    if p.pushed:
        lines.append(f"pushed {p.branch} to {remote}. Next: open a pull request from {p.branch} into main; "
                     f"Argo CD deploys {p.target} after the merge.")
    else:
        lines.append(f"not pushed. Next: review with `git show {p.branch}`, then `git push -u {remote} {p.branch}` "
                     "(or run with PUSH=1) and open a pull request into main.")
    return "\n".join(lines)


@reports_errors("promote")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="promote", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--image", required=True, help="images[].name, or its last part (spark-etl)")
    parser.add_argument("--from", dest="source", default="dev")
    parser.add_argument("--to", dest="target", default="prod")
    parser.add_argument("--push", action="store_true", help="push the promote branch")
    parser.add_argument("--remote", default="origin")
    args = parser.parse_args(argv)
    if not args.image.strip():
        raise BadInput("IMAGE is empty: give the image to promote, e.g. IMAGE=spark-etl")
    result = promote(git.toplevel(args.repo), args.image.strip(), args.source, args.target,
                     push=args.push, remote=args.remote)
    print(report(result, args.remote))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
