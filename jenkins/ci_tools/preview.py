"""PR preview: what merging HEAD into BASE changes in each cluster, as a Kubernetes object diff.

    python -m ci_tools.preview --repo . --base origin/main --head HEAD --out .run/preview

Both revisions are checked out with `git worktree` into a temporary folder and rendered by the static
gate's own code (tools.gate: the pinned kustomize, clusters/<env> and every apps/*/overlays/<env>), so
the preview and `make validate` can never disagree on what a cluster is made of. Writes <out>/<cluster>.md per cluster
and <out>/summary.txt, and prints the summary. Exit 1 when the head revision does not render.

Besides one diff per render target, each cluster gets one diff of everything it ends up with (the
entry, the Applications its ApplicationSets generate, and every object those Applications sync,
whichever folder renders it), so a change that only moves objects between folders shows as none.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ci_tools import git
from ci_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, ToolFailure
from ci_tools.objdiff import ObjectDiff, diff_objects, format_diff, object_key
from tools.gate import paths as gate_paths
from tools.gate import units as gate_units
from tools.gate.render import RenderError, render

WHOLE_CLUSTER = "(whole cluster)"


@dataclass
class TargetPreview:
    target: str
    diff: ObjectDiff | None
    base_error: str | None = None
    head_error: str | None = None


def _render_or_error(checkout: Path, target: str) -> tuple[list[dict], str | None]:
    if not (checkout / target).is_dir():
        return [], None  # absent on this side: every object is added or removed
    try:
        return render(checkout / target), None
    except RenderError as exc:
        return [], str(exc)


def render_targets(checkout: Path, cluster: str) -> list[str]:
    """The gate's render units of one checkout, relative to it (so base and head can be paired)."""
    return [str(unit.relative_to(checkout)) for unit in gate_paths.render_units(cluster, root=checkout)]


def preview_cluster(base_dir: Path, head_dir: Path, cluster: str) -> list[TargetPreview]:
    targets = sorted(set(render_targets(base_dir, cluster)) | set(render_targets(head_dir, cluster)),
                     key=lambda t: (not t.startswith("clusters/"), t))
    previews = []
    for target in targets:
        base_objs, base_err = _render_or_error(base_dir, target)
        head_objs, head_err = _render_or_error(head_dir, target)
        diff = None if head_err else diff_objects(base_objs, head_objs)
        previews.append(TargetPreview(target, diff, base_err, head_err))
    return previews


def whole_cluster(checkout: Path, cluster: str) -> tuple[list[dict], str | None]:
    """Every object the cluster ends up with, keyed once; (objects, error) like _render_or_error."""
    units = render_targets(checkout, cluster)
    if not units:
        return [], None
    objects: dict = {}
    for target in units:
        rendered, error = _render_or_error(checkout, target)
        if error:
            return [], f"{target}: {error}"
        if target.startswith("clusters/"):
            rendered = rendered + gate_units.cluster_applications(cluster, checkout)
        for obj in rendered:
            objects.setdefault(object_key(obj), obj)
    return list(objects.values()), None


def preview_whole_cluster(base_dir: Path, head_dir: Path, cluster: str) -> TargetPreview:
    base_objs, base_err = whole_cluster(base_dir, cluster)
    head_objs, head_err = whole_cluster(head_dir, cluster)
    diff = None if head_err else diff_objects(base_objs, head_objs)
    return TargetPreview(WHOLE_CLUSTER, diff, base_err, head_err)


def cluster_markdown(cluster: str, base: str, head: str, previews: list[TargetPreview]) -> str:
    lines = [f"# Preview for cluster `{cluster}`: {base} -> {head}", ""]
    if not previews:
        lines.append("No kustomization for this cluster on either side.")
    for p in previews:
        title = "every object the cluster ends up with, whichever folder renders it" if p.target == WHOLE_CLUSTER else p.target
        lines += [f"## {title}", ""]
        if p.head_error:
            lines += ["HEAD DOES NOT RENDER:", "```", p.head_error, "```", ""]
            continue
        if p.base_error:
            lines += [f"(base did not render, every object shows as added: {p.base_error.splitlines()[0]})", ""]
        lines += ["```diff", *format_diff(p.diff), "```", ""]
    return "\n".join(lines)


def summary_line(cluster: str, p: TargetPreview) -> str:
    if p.head_error:
        return f"{cluster}: {p.target}: HEAD DOES NOT RENDER"
    d = p.diff
    if d.empty:
        return f"{cluster}: {p.target}: no changes"
    return f"{cluster}: {p.target}: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed"


def resolve(repo: Path, ref: str, fetch: bool) -> str:
    """Commit SHA of ref; with fetch, `origin/<branch>` is fetched first (PR agents clone one branch)."""
    if fetch and ref.startswith("origin/"):
        branch = ref.split("/", 1)[1]
        git.run(repo, "fetch", "--quiet", "--no-tags", "origin", f"+refs/heads/{branch}:refs/remotes/{ref}")
    proc = git.run(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if proc.returncode != 0:
        raise ValueError(f"{repo}: revision {ref!r} does not exist (fetch it first, or pass --fetch-base)")
    return proc.stdout.strip()


def run_preview(repo: Path, base: str, head: str, out: Path, fetch: bool = False) -> tuple[list[str], bool]:
    """Write the preview files; returns (summary lines, head_renders)."""
    base_sha, head_sha = resolve(repo, base, fetch), resolve(repo, head, False)
    out.mkdir(parents=True, exist_ok=True)
    summary, head_ok = [], True
    with tempfile.TemporaryDirectory(prefix="preview-") as tmp:
        checkouts = {}
        try:
            for side, sha in (("base", base_sha), ("head", head_sha)):
                checkouts[side] = Path(tmp) / side
                git.run(repo, "worktree", "add", "--quiet", "--detach", str(checkouts[side]), sha)
            clusters = sorted(set(gate_paths.clusters(checkouts["base"])) | set(gate_paths.clusters(checkouts["head"])))
            for cluster in clusters:
                previews = preview_cluster(checkouts["base"], checkouts["head"], cluster)
                previews.insert(0, preview_whole_cluster(checkouts["base"], checkouts["head"], cluster))
                text = cluster_markdown(cluster, f"{base} ({base_sha[:10]})", f"{head} ({head_sha[:10]})", previews)
                (out / f"{cluster}.md").write_text(text)
                summary += [summary_line(cluster, p) for p in previews]
                head_ok &= not any(p.head_error for p in previews)
        finally:
            for path in checkouts.values():
                git.run(repo, "worktree", "remove", "--force", str(path), check=False)
            git.run(repo, "worktree", "prune", check=False)
    (out / "summary.txt").write_text("\n".join(summary) + "\n")
    return summary, head_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="preview", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--base", default="origin/main")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--out", type=Path, default=Path(".run/preview"))
    parser.add_argument("--fetch-base", action="store_true", help="fetch origin/<branch> before resolving --base")
    args = parser.parse_args(argv)
    try:
        summary, head_ok = run_preview(git.toplevel(args.repo), args.base, args.head, args.out, args.fetch_base)
    except ValueError as exc:
        print(f"preview: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ToolFailure, gate_paths.ToolMissing) as exc:
        print(f"preview: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(summary))
    for md in sorted(args.out.glob("*.md")):
        print(f"\n{md.read_text()}")
    return 0 if head_ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
