"""`make bench-argocd`: on a running local platform, how fast a merge becomes the running state.

- merge -> Synced through the webhook: a commit pushed to the local remote (an annotation on the
  spark-jobs namespace, so nothing restarts), then the signed push event Argo CD receives, until the
  `namespaces` Application reports Synced at that commit; p50/p95 over --merges runs;
- selfHeal: a hand edit of a managed Deployment until Argo CD has put it back;
- with --polling, one merge without the webhook (Argo CD's polling: timeout.reconciliation + jitter).
Every commit is undone at the end (main is put back where it was)."""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.platform.platform import ARGOCD_NAMESPACE, Platform

NAMESPACES = "apps/namespaces/base/generated/namespaces.yaml"
KEY = "bench.mlops-platform/merge"


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _annotate(root: Path, value: str) -> None:
    path = root / NAMESPACES
    lines = [line for line in path.read_text().splitlines(keepends=True) if KEY not in line]
    text = "".join(lines)
    head = "  name: spark-jobs\n"
    if head + "  annotations:\n" in text:
        text = text.replace(head + "  annotations:\n", head + f"  annotations:\n    {KEY}: \"{value}\"\n", 1)
    else:
        text = text.replace(head, head + f"  annotations:\n    {KEY}: \"{value}\"\n", 1)
    path.write_text(text)


def _synced_at(platform: Platform, commit: str) -> bool:
    app = json.loads(platform.kubectl("-n", ARGOCD_NAMESPACE, "get", "application", "namespaces", "-o", "json").stdout)
    sync, _, revision = Platform.state(app)
    return sync == "Synced" and bool(revision) and commit.startswith(revision)


def _wait(check, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.25)
    raise TimeoutError(f"not done after {timeout:.0f}s")


def merge_once(platform: Platform, repo: Path, value: str, webhook: bool, timeout: float) -> float:
    before = _git("rev-parse", "HEAD", cwd=repo)
    _annotate(repo, value)
    _git("commit", "--quiet", "--no-verify", "-am", f"bench: merge {value}", cwd=repo)
    commit = _git("rev-parse", "HEAD", cwd=repo)
    started = time.monotonic()
    _git("push", "--quiet", "origin", "HEAD:main", cwd=repo)
    if webhook:
        platform.notify_push(commit, before, [NAMESPACES])
    return time.monotonic() - started + _wait(lambda: _synced_at(platform, commit), timeout)


def self_heal_once(platform: Platform) -> float:
    """A label git declares on a managed Deployment, changed by hand (a field git does not declare
    is not drift: Argo CD diffs what git says), until selfHeal has put git's value back."""
    platform.kubectl("-n", "spark", "label", "--overwrite", "deployment", "spark-master", "owner=hand-edit")

    def healed() -> bool:
        labels = platform.kubectl("-n", "spark", "get", "deployment", "spark-master", "-o",
                                  "jsonpath={.metadata.labels.owner}").stdout
        return labels == "data-platform"
    return _wait(healed, 180)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.platform.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merges", type=int, default=10)
    parser.add_argument("--heals", type=int, default=3)
    parser.add_argument("--polling", action="store_true", help="also time one merge without the webhook")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    platform = Platform()
    if not platform.k8s.healthy() or "namespaces" not in platform.applications():
        print("bench-argocd: the local platform is not up (make platform-up)", file=sys.stderr)
        return 1
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-argocd-") as work:
        repo = Path(work) / "repo"
        _git("clone", "--quiet", str(platform.remote), str(repo), cwd=Path(work))
        _git("config", "user.email", "bench@localhost", cwd=repo)
        _git("config", "user.name", "bench", cwd=repo)
        start = _git("rev-parse", "HEAD", cwd=repo)
        try:
            webhook = [merge_once(platform, repo, f"w{i}", True, 120) for i in range(args.merges)]
            result["merge_to_synced_webhook_s"] = {
                "runs": [round(v, 2) for v in webhook], "p50": round(statistics.median(webhook), 2),
                "p95": round(percentile(webhook, 0.95), 2)}
            if args.polling:
                result["merge_to_synced_polling_s"] = round(merge_once(platform, repo, "poll", False, 400), 1)
        finally:
            _git("push", "--quiet", "--force", "origin", f"{start}:refs/heads/main", cwd=repo)
            platform.notify_push(start)
    heals = [self_heal_once(platform) for _ in range(args.heals)]
    result["self_heal_s"] = {"runs": [round(v, 2) for v in heals], "p50": round(statistics.median(heals), 2)}
    cm = json.loads(platform.kubectl("-n", ARGOCD_NAMESPACE, "get", "configmap", "argocd-cm", "-o", "json").stdout)
    result["polling_interval_configured"] = cm["data"].get("timeout.reconciliation", "180s (default)")
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
