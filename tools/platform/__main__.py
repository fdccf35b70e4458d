"""python -m tools.platform up|down|status|drift: see tools/platform/README.md."""
from __future__ import annotations

import argparse
import json
import sys

from tools.k8s.cluster import ClusterError, LocalKubernetes
from tools.platform.mirrors import MirrorError
from tools.platform.platform import Platform, PlatformError, run_argocd


def status(platform: Platform) -> int:
    """One line per Application, from the argocd CLI: sync, health, revision."""
    if not platform.k8s.healthy():
        print("platform: the local cluster is not running")
        return 3
    apps = json.loads(run_argocd("app", "list", "-o", "json", k8s=platform.k8s).stdout or "[]")
    if not apps:
        print("platform: no Applications (make platform-up)")
        return 3
    bad = 0
    for app in sorted(apps, key=lambda a: a["metadata"]["name"]):
        sync, health, revision = Platform.state(app)
        bad += (sync, health) != ("Synced", "Healthy")
        print(f"{app['metadata']['name']:28} {sync:10} {health:12} {revision}")
    return 1 if bad else 0


def drift(platform: Platform) -> int:
    """Exit 1 and print the diff of every OutOfSync Application; 0 when everything is in sync."""
    apps = json.loads(run_argocd("app", "list", "-o", "json", k8s=platform.k8s).stdout or "[]")
    out_of_sync = [a["metadata"]["name"] for a in apps if Platform.state(a)[0] != "Synced"]
    for name in out_of_sync:
        diff = run_argocd("app", "diff", name, k8s=platform.k8s, check=False)
        print(f"===== {name}: OutOfSync\n{diff.stdout}{diff.stderr}")
    if out_of_sync:
        print(f"platform: drift in {len(out_of_sync)} Application(s): {', '.join(out_of_sync)}", file=sys.stderr)
        return 1
    print(f"platform: no drift ({len(apps)} Applications Synced)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.platform")
    parser.add_argument("command", choices=("up", "down", "status", "drift", "bench"))
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from tools.platform import bench
        return bench.main(rest)
    platform = Platform(LocalKubernetes())
    try:
        if args.command == "up":
            timings = platform.up()
            print("platform: every Application Synced and Healthy in "
                  f"{timings['total']}s ({', '.join(f'{k} {v}s' for k, v in timings.items() if k != 'total')})")
            return 0
        if args.command == "down":
            platform.down()
            return 0
        if args.command == "status":
            return status(platform)
        return drift(platform)
    except (PlatformError, ClusterError, MirrorError) as error:
        print(f"platform: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
