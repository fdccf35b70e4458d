"""python -m tools.k8s up|down|status|registry-up: see tools/k8s/README.md."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tools.controlplane.cluster import ControlPlaneError
from tools.images.build import BuildError, node_image_refs
from tools.images.build import run as build_images
from tools.k8s import layout as L
from tools.k8s.cluster import NODE_COMPONENTS, ClusterError, LocalKubernetes
from tools.k8s.procs import find_ours


def _git_sha() -> str:
    result = subprocess.run(["git", "-C", str(L.ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unversioned"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.k8s")
    parser.add_argument("command", choices=("up", "down", "status", "registry-up"))
    parser.add_argument("--state-dir", type=Path, default=L.RUN_DIR / "k8s")
    args = parser.parse_args(argv)
    cluster = LocalKubernetes(L.Layout(args.state_dir.resolve()))
    try:
        if args.command == "up":
            cluster.preflight()
            if cluster.healthy():
                print(f"k8s: already running; kubeconfig: {cluster.layout.kubeconfig}")
                return 0
            records = L.RUN_DIR / "images" / "local"
            build_images(_git_sha(), None, ["node"], records)
            timings = cluster.up(node_image_refs(records))
            print(f"k8s: node {L.NODE_NAME} Ready in {timings['total']}s "
                  f"({', '.join(f'{k} {v}s' for k, v in timings.items() if k != 'total')})")
            print(f"  kubeconfig: {cluster.layout.kubeconfig}")
            print(f"  e.g.: {L.TOOLS_DIR / 'controlplane' / 'bin' / 'kubectl'} --kubeconfig "
                  f"{cluster.layout.kubeconfig} get pods -A")
        elif args.command == "down":
            cluster.down()
        elif args.command == "registry-up":
            port = cluster.substrate_up()
            print(f"k8s: registry {L.REGISTRY_HOST} in the node namespace (host forwarder 127.0.0.1:{port})")
        else:
            running = {f.name: f.pid for f in find_ours(cluster.layout.state_dir)}
            for component in ("etcd", "kube-apiserver", "kube-controller-manager", *NODE_COMPONENTS, "registry"):
                state = f"running (pid {running[component]})" if component in running else "stopped"
                print(f"{component}: {state}")
            left = cluster.leftovers()
            healthy = cluster.healthy()
            print(f"node {L.NODE_NAME}: {'Ready' if healthy else 'not ready'}")
            return 0 if healthy else (3 if not left else 4)
    except (ClusterError, ControlPlaneError, BuildError, subprocess.CalledProcessError) as error:
        print(f"k8s: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
