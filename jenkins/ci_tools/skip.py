"""Tell whether HEAD is the CI bot's own bump commit, so the pipeline can skip it (no build loop).

    python -m ci_tools.skip [--repo .]   # exit 0: skip (bot commit), exit 1: build
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ci_tools import git
from ci_tools.bump import SKIP_MARKER


def is_bot_commit(repo: Path, rev: str = "HEAD") -> tuple[bool, str]:
    """True when the commit carries the skip marker or was committed by the CI bot."""
    committer, message = git.run(repo, "log", "-1", "--format=%cn%x00%B", rev).stdout.split("\x00", 1)
    if SKIP_MARKER in message:
        return True, f"{rev} message carries {SKIP_MARKER}"
    if committer.strip() == git.BOT_NAME:
        return True, f"{rev} was committed by {git.BOT_NAME}"
    return False, f"{rev} is a regular commit by {committer.strip()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skip", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--rev", default="HEAD")
    args = parser.parse_args(argv)
    skip, reason = is_bot_commit(args.repo, args.rev)
    print(f"ci-skip-check: {'skip' if skip else 'build'}: {reason}")
    return 0 if skip else 1


if __name__ == "__main__":
    sys.exit(main())
