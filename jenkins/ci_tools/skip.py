"""Tell the pipeline which commits must not start the image build-and-bump path.

    python -m ci_tools.skip [--repo .]            # prints BOT_COMMIT=true (skip everything) or BOT_COMMIT=false
    python -m ci_tools.skip --release [--repo .]  # prints RELEASE_COMMIT=true (test, build no images) or =false

Both exit 0 when they could decide, and the answer is the last line of stdout; any failure (git cannot
read the commit, bad arguments) exits non-zero without an answer, so the Jenkinsfile fails the build
instead of guessing: a guess of "not a release" would build and bump images over a rollback.

A bot bump commit would loop forever. A release commit (`make promote` merged, `make rollback`) only
moves image pins: building new images from it and bumping the overlays would undo the very release.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ci_tools import git
from ci_tools.bump import SKIP_MARKER
from ci_tools.errors import reports_errors
from ci_tools.promote import TRAILER_IMAGE as PROMOTED
from ci_tools.rollback import TRAILER_IMAGE as ROLLED_BACK

RELEASE_TRAILERS = (PROMOTED, ROLLED_BACK)


def is_bot_commit(repo: Path, rev: str = "HEAD") -> tuple[bool, str]:
    """True when the commit carries the skip marker or was committed by the CI bot."""
    committer, message = git.run(repo, "log", "-1", "--format=%cn%x00%B", rev).stdout.split("\x00", 1)
    if SKIP_MARKER in message:
        return True, f"{rev} message carries {SKIP_MARKER}"
    if committer.strip() == git.BOT_NAME:
        return True, f"{rev} was committed by {git.BOT_NAME}"
    return False, f"{rev} is a regular commit by {committer.strip()}"


def _introduced_commits(repo: Path, rev: str) -> list[str]:
    """The non-merge commits rev brings: itself, or for a merge what its first parent lacked."""
    parents = git.run(repo, "rev-list", "--parents", "-n", "1", rev).stdout.split()[1:]
    if len(parents) < 2:
        return [git.run(repo, "rev-parse", rev).stdout.strip()]
    return git.run(repo, "rev-list", "--no-merges", f"{rev}^1..{rev}").stdout.split()


def is_release_commit(repo: Path, rev: str = "HEAD") -> tuple[bool, str]:
    """True when every commit rev introduces is a promotion or rollback (by its trailers)."""
    commits = _introduced_commits(repo, rev)
    for sha in commits:
        trailers = git.run(repo, "log", "-1", "--format=%(trailers:only,unfold)", sha).stdout
        keys = {line.split(":", 1)[0].strip() for line in trailers.splitlines() if ":" in line}
        if not keys & set(RELEASE_TRAILERS):
            return False, f"{sha[:12]} is not a promotion or rollback commit"
    if not commits:
        return False, f"{rev} introduces no commits"
    return True, f"{rev} only promotes or rolls back images ({len(commits)} commit(s)): no image build, no bump"


@reports_errors("skip")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skip", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--release", action="store_true", help="check for a promotion/rollback commit instead")
    args = parser.parse_args(argv)
    if args.release:
        release, reason = is_release_commit(args.repo, args.rev)
        print(f"release-commit-check: {'release' if release else 'build images'}: {reason}")
        print(f"RELEASE_COMMIT={'true' if release else 'false'}")
        return 0
    skip, reason = is_bot_commit(args.repo, args.rev)
    print(f"ci-skip-check: {'skip' if skip else 'build'}: {reason}")
    print(f"BOT_COMMIT={'true' if skip else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
