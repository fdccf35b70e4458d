"""Set image tags/digests in the cluster overlays, validate, commit as the CI bot, push with retry.

    python -m ci_tools.bump --image NAME --tag TAG [--digest sha256:...] --clusters dev,prod
    python -m ci_tools.bump --from-dir .run/images --clusters dev,prod   # records written by `images`

Exit 0: bumped and pushed (or nothing to change). Exit 2: bad input, nothing changed.
Exit 1: validation, git or push failure (the working tree is restored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ci_tools import git
from ci_tools.errors import EXIT_OK, BadInput, ToolFailure, reports_errors
from ci_tools.imageref import ImageBump, validate_bump
from ci_tools.overlay_images import apply_bump, image_names, known_clusters, overlay_files
from tools.gate import paths as gate_paths

SKIP_MARKER = "[ci skip]"
TRAILER = "Bumped-Image"
DEFAULT_VALIDATE_CMD = "make validate"


@dataclass
class Plan:
    """New contents for each overlay file that changes."""

    changes: dict[Path, str] = field(default_factory=dict)

    def touched_overlays(self) -> list[Path]:
        return sorted({p.parent for p in self.changes})


def plan_bumps(repo: Path, bumps: list[ImageBump], clusters: list[str]) -> Plan:
    """Compute every edit in memory; raises BadInput before any file is written."""
    available = known_clusters(repo)
    for cluster in clusters:
        if cluster not in available:
            raise BadInput(f"cluster {cluster!r} is unknown: {repo / 'clusters'} has {available or 'no clusters'}")
    plan = Plan()
    for bump in bumps:
        validate_bump(bump)
        for cluster in clusters:
            files = overlay_files(repo, cluster)
            hits = [f for f in files if bump.name in image_names(f)]
            if not hits:
                looked = ", ".join(str(f.relative_to(repo)) for f in files) or f"no apps/*/overlays/{cluster}"
                raise BadInput(
                    f"image {bump.name!r} is not in the `images:` list of any overlay of cluster {cluster!r} "
                    f"(looked at: {looked})"
                )
            for path in hits:
                current = plan.changes.get(path, path.read_text())
                new_text = apply_bump(current, bump, path.relative_to(repo))
                if new_text != path.read_text():
                    plan.changes[path] = new_text
                elif path in plan.changes:  # a later bump restored the original text
                    del plan.changes[path]
    return plan


def buildable(repo: Path, folders: list[Path]) -> list[Path]:
    """The folders kustomize can build for the edited ones: a component under clusters/<cluster>/
    (clusters/local/laptop) cannot be built alone, so it stands for its cluster's render units."""
    out: list[Path] = []
    for folder in folders:
        rel = folder.resolve().relative_to(repo.resolve())
        if rel.parts[0] == "clusters" and len(rel.parts) > 2:
            out += [u for u in gate_paths.render_units(rel.parts[1], root=repo) if u not in out]
        elif folder not in out:
            out.append(folder)
    return out


def run_validation(repo: Path, overlays: list[Path]) -> None:
    """The static gate (or the command in BUMP_VALIDATE_CMD) must pass on the edited tree.

    The command runs in the repo root and gets the edited overlay folders in BUMP_TOUCHED_OVERLAYS.
    """
    command = os.environ.get("BUMP_VALIDATE_CMD", DEFAULT_VALIDATE_CMD)
    env = dict(os.environ, BUMP_TOUCHED_OVERLAYS=" ".join(str(p) for p in buildable(repo, overlays)))
    proc = subprocess.run(["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-4000:]
        raise ToolFailure(f"validation `{command}` failed (exit {proc.returncode}) on the bumped overlays:\n{output}")


def commit_message(bumps: list[ImageBump], clusters: list[str]) -> str:
    short = ", ".join(f"{b.name.rsplit('/', 1)[-1]}={b.tag or b.digest[:19]}" for b in bumps)
    trailers = "\n".join(f"{TRAILER}: {b.reference()}" for b in bumps)
    return (
        f"ci: bump {short} in {','.join(clusters)} {SKIP_MARKER}\n\n"
        f"Set by the image pipeline after pushing the images; Argo CD deploys it.\n"
        f"Revert this commit to roll back.\n\n{trailers}\nBumped-Clusters: {','.join(clusters)}\n"
    )


def apply_validate_commit(repo: Path, plan: Plan, message: str, *, bot: bool) -> None:
    """Write the planned files, run the gate, commit them; on a gate failure the files are restored."""
    originals = {path: path.read_text() for path in plan.changes}
    for path, text in plan.changes.items():
        path.write_text(text)
    try:
        run_validation(repo, plan.touched_overlays())
    except ToolFailure:
        for path, text in originals.items():
            path.write_text(text)
        raise
    paths = [str(p.relative_to(repo)) for p in plan.changes]
    git.run(repo, "add", "--", *paths)
    git.run(repo, "commit", "--quiet", "-m", message, "--", *paths, bot=bot)


def write_apply_validate_commit(repo: Path, bumps: list[ImageBump], clusters: list[str]) -> bool:
    """Edit, validate and commit on the current HEAD as the CI bot. False when there was nothing to change."""
    plan = plan_bumps(repo, bumps, clusters)
    if not plan.changes:
        return False
    apply_validate_commit(repo, plan, commit_message(bumps, clusters), bot=True)
    return True


def _push_rejected_as_stale(stderr: str) -> bool:
    markers = ("non-fast-forward", "fetch first", "[rejected]", "failed to update ref", "cannot lock ref")
    return any(m in stderr for m in markers)


def _files_of_head(repo: Path) -> list[str]:
    return git.run(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").stdout.split()


def push_with_retry(repo: Path, redo: Callable[[], bool], remote: str, branch: str, attempts: int,
                    backoff: float, *, bot: bool = True) -> int:
    """Push HEAD to remote/branch; when someone pushed first, fetch, rebase (or redo the edit) and retry.

    `redo` makes the edit and commit again on a fresh checkout of the remote tip (False: nothing left to
    change). `bot` says who commits the rebased copy, so a human's commit stays theirs.
    Returns the number of attempts used. The jittered exponential backoff spreads out racing bots.
    """
    for attempt in range(1, attempts + 1):
        proc = git.run(repo, "push", "--quiet", remote, f"HEAD:refs/heads/{branch}", check=False)
        if proc.returncode == 0:
            return attempt
        if not _push_rejected_as_stale(proc.stderr):
            raise ToolFailure(f"git push to {remote}/{branch} failed:\n{proc.stderr.strip()}")
        if attempt == attempts:
            break
        time.sleep(min(backoff * 2 ** (attempt - 1), 8.0) * random.uniform(0.5, 1.5))
        git.run(repo, "fetch", "--quiet", remote, branch)
        rebased = git.run(repo, "rebase", "--quiet", "FETCH_HEAD", check=False, bot=bot)
        if rebased.returncode == 0:
            # The rebased commit is a new tree (ours + upstream): it passes the gate too, or nothing is pushed.
            run_validation(repo, sorted({(repo / f).parent for f in _files_of_head(repo)}))
            continue
        # Neighbouring lines changed upstream: start again from the remote tip and redo the edit.
        git.run(repo, "rebase", "--abort", check=False)
        git.run(repo, "reset", "--quiet", "--hard", "FETCH_HEAD")
        if not redo():
            return attempt  # upstream already holds exactly these values
    raise ToolFailure(f"git push to {remote}/{branch} still rejected after {attempts} attempts")


def load_build_records(directory: Path) -> list[ImageBump]:
    """Read the *.json records `images` writes after each push: {"image", "tag", "digest"}."""
    records = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not records:
        raise BadInput(f"{directory}: no image build records (*.json) to bump from")
    bumps = []
    for record in records:
        try:
            data = json.loads(record.read_text())
            bumps.append(ImageBump(name=data["image"], tag=data.get("tag"), digest=data.get("digest")))
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"{record}: not an image build record ({exc})") from exc
    return bumps


def bump(repo: Path, bumps: list[ImageBump], clusters: list[str], *, push: bool = True, remote: str = "origin",
         branch: str = "main", attempts: int = 10, backoff: float = 0.3) -> dict:
    """The whole operation; returns a summary dict (commit, attempts, images)."""
    for item in bumps:
        validate_bump(item)
    dirty = git.dirty_paths(repo)
    if dirty:
        raise BadInput(f"{repo}: working tree is dirty ({', '.join(dirty[:5])}); commit or remove the changes first")
    if not write_apply_validate_commit(repo, bumps, clusters):
        return {"changed": False, "commit": git.head(repo), "attempts": 0, "images": [b.reference() for b in bumps]}
    def redo() -> bool:
        return write_apply_validate_commit(repo, bumps, clusters)

    used = push_with_retry(repo, redo, remote, branch, attempts, backoff) if push else 0
    return {"changed": True, "commit": git.head(repo), "attempts": used, "images": [b.reference() for b in bumps]}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bump", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--image", help="image name as in the overlays' images[].name")
    parser.add_argument("--tag")
    parser.add_argument("--digest")
    parser.add_argument("--from-dir", type=Path, help="bump every image recorded by `images` in this folder")
    parser.add_argument("--clusters", default="dev,prod", help="comma-separated (default dev,prod)")
    parser.add_argument("--remote", default="origin")
    parser.add_argument("--branch", default=os.environ.get("BUMP_BRANCH", "main"))
    parser.add_argument("--no-push", action="store_true", help="commit locally only")
    parser.add_argument("--attempts", type=int, default=int(os.environ.get("BUMP_PUSH_ATTEMPTS", "10")))
    parser.add_argument("--backoff", type=float, default=float(os.environ.get("BUMP_PUSH_BACKOFF", "0.3")))
    parser.add_argument("--summary-file", type=Path, help="write the trailers here (for the Jenkins build description)")
    return parser.parse_args(argv)


@reports_errors("bump")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.from_dir:
        if args.image or args.tag or args.digest:
            raise BadInput("give either --from-dir or --image/--tag/--digest, not both")
        bumps = load_build_records(args.from_dir)
    elif args.image:
        bumps = [ImageBump(name=args.image, tag=args.tag or None, digest=args.digest or None)]
    else:
        raise BadInput("nothing to bump: give --image (with --tag and/or --digest) or --from-dir")
    clusters = [c.strip() for c in args.clusters.split(",") if c.strip()]
    if not clusters:
        raise BadInput("--clusters is empty")
    repo = git.toplevel(args.repo)
    result = bump(repo, bumps, clusters, push=not args.no_push, remote=args.remote, branch=args.branch,
                  attempts=args.attempts, backoff=args.backoff)
    state = "bumped" if result["changed"] else "already up to date"
    print(f"bump: {state}: {', '.join(result['images'])} in {','.join(clusters)} "
          f"(commit {result['commit'][:12]}, push attempts {result['attempts']})")
    if args.summary_file:
        args.summary_file.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{TRAILER}: {ref}" for ref in result["images"]] if result["changed"] else []
        args.summary_file.write_text("".join(line + "\n" for line in lines))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
