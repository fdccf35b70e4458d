"""Build and push the job images with kaniko, then record name, tag and registry digest for `bump`.

    python -m ci_tools.images plan  --repo . --tag <git sha>
    python -m ci_tools.images build --repo . --tag <git sha> --records .run/images

Images are the folders jobs/images/<name>/ holding a Dockerfile; each is built with the repository
root as context and pushed as <IMAGE_REGISTRY>/<name>:<git sha> (an immutable tag: one commit, one
image). kaniko needs no Docker daemon, so it runs in the Jenkins agent's kaniko container; anywhere
else `build` prints the plan and exits 3, because claiming a build that did not happen would be a lie.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ci_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInput, ToolFailure
from ci_tools.imageref import ImageBump, validate_bump
from ci_tools.registry import resolve_digest

DEFAULT_REGISTRY = "mlops-kr1-registry.container.nhncloud.com/mlops-platform"
EXIT_NO_BUILDER = 3


@dataclass(frozen=True)
class ImageBuild:
    name: str  # short name, e.g. spark-etl
    repository: str  # registry/path/name
    dockerfile: Path
    tag: str

    @property
    def destination(self) -> str:
        return f"{self.repository}:{self.tag}"


def discover(repo: Path, tag: str, registry: str) -> list[ImageBuild]:
    """One build per jobs/images/<name>/Dockerfile, all tagged with the same (git SHA) tag."""
    validate_bump(ImageBump(name=f"{registry}/x", tag=tag))
    builds = [
        ImageBuild(name=d.parent.name, repository=f"{registry}/{d.parent.name}", dockerfile=d, tag=tag)
        for d in sorted((repo / "jobs" / "images").glob("*/Dockerfile"))
    ]
    if not builds:
        raise BadInput(f"{repo / 'jobs' / 'images'}: no <name>/Dockerfile found, nothing to build")
    return builds


def kaniko_command(executor: str, repo: Path, build: ImageBuild, digest_file: Path) -> list[str]:
    return [
        executor,
        f"--context=dir://{repo}",
        f"--dockerfile={build.dockerfile}",
        f"--destination={build.destination}",
        f"--digest-file={digest_file}",
        "--reproducible",  # same sources, same digest: rebuilding a commit is a no-op for the overlays
        "--snapshot-mode=redo",
        f"--label=org.opencontainers.image.revision={build.tag}",
    ]


def write_record(records: Path, build: ImageBuild, digest: str) -> Path:
    """The contract with `bump --from-dir`: {"image", "tag", "digest"} per pushed image."""
    validate_bump(ImageBump(name=build.repository, tag=build.tag, digest=digest))
    records.mkdir(parents=True, exist_ok=True)
    path = records / f"{build.name}.json"
    path.write_text(json.dumps({"image": build.repository, "tag": build.tag, "digest": digest}, indent=2) + "\n")
    return path


def build_all(repo: Path, builds: list[ImageBuild], executor: str, records: Path, verify: bool) -> None:
    for build in builds:
        digest_file = records / f"{build.name}.digest"
        records.mkdir(parents=True, exist_ok=True)
        print(f"==> kaniko: {build.dockerfile.relative_to(repo)} -> {build.destination}", flush=True)
        proc = subprocess.run(kaniko_command(executor, repo, build, digest_file))
        if proc.returncode != 0:
            raise ToolFailure(f"kaniko failed for {build.name} (exit {proc.returncode})")
        digest = digest_file.read_text().strip()
        if verify:  # trust the registry, not only the builder's report
            served = resolve_digest(build.destination, auth=_registry_auth())
            if served != digest:
                raise ToolFailure(f"{build.destination}: kaniko reported {digest}, registry serves {served}")
        print(f"    pushed {build.destination}@{digest}")
        write_record(records, build, digest)


def _registry_auth() -> tuple[str, str] | None:
    user, token = os.environ.get("REGISTRY_USER"), os.environ.get("REGISTRY_PASSWORD")
    return (user, token) if user and token else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="images", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["plan", "build"])
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--tag", required=True, help="immutable tag, the git commit SHA")
    parser.add_argument("--registry", default=os.environ.get("IMAGE_REGISTRY", DEFAULT_REGISTRY))
    parser.add_argument("--records", type=Path, default=Path(".run/images"))
    parser.add_argument("--executor", default=os.environ.get("KANIKO_EXECUTOR", "/kaniko/executor"))
    parser.add_argument("--no-verify", action="store_true", help="skip asking the registry for the digest")
    args = parser.parse_args(argv)
    try:
        builds = discover(args.repo.resolve(), args.tag, args.registry)
        for build in builds:
            print(f"plan: {build.dockerfile.relative_to(args.repo.resolve())} -> {build.destination}")
        if args.action == "plan":
            return 0
        if not os.access(args.executor, os.X_OK):
            print(f"images: kaniko executor {args.executor} not found: image builds run only in the Jenkins "
                  "kaniko container (jenkins/agents/ci-pod.yaml); nothing was built or pushed", file=sys.stderr)
            return EXIT_NO_BUILDER
        build_all(args.repo.resolve(), builds, args.executor, args.records, verify=not args.no_verify)
    except BadInput as exc:
        print(f"images: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ToolFailure as exc:
        print(f"images: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
