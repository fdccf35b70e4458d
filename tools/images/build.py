"""`make images`: build every image of this repository with buildah, push it to the local registry
tagged with the commit SHA, and print one line per image: `image <name> <ref>@<digest>`.

What is built:
- `jobs/images/<name>/Dockerfile` (context: the repository root) and the CI agent
  (`jenkins/agents/ci-agent/Dockerfile`), on the Debian-built bases of tools/images/bases.py passed
  as build arguments (Jenkins passes nothing and gets the upstream bases, with kaniko);
- the node images of the local cluster (`tools/k8s/images/<name>/Dockerfile`): the pause image and
  the add-ons (CoreDNS, metrics-server, local-path provisioner), from binaries built at their pins.

Caching, all outside the clone (`$MLOPS_CACHE_DIR`): buildah's layer store, the bases, the
registry's blobs, and one record per image of the last build's input key and digest. An image
whose inputs (Dockerfile, every file its COPY lines read, build arguments, base) are unchanged is
a cache hit: its manifest is tagged with the new SHA in the registry, nothing is rebuilt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.images.bases import BASES, BaseBuilder
from tools.k8s import layout as L
from tools.versions import read_versions

BUILDAH_ROOT = L.CACHE_DIR / "buildah" / "storage"
RECORDS_CACHE = L.CACHE_DIR / "image-records"
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))
# Build arguments that select our Debian-built bases instead of the upstream images.
LOCAL_BASE_ARGS = {
    "airflow": {"AIRFLOW_BASE_IMAGE": "airflow"},
    "spark-etl": {"SPARK_BASE_IMAGE": "spark", "MAVEN_IMAGE": "maven"},
    "local-path-provisioner": {"HELPER_BASE_IMAGE": "shell"},
    "ci-agent": {"CI_AGENT_BASE_IMAGE": "golang"},
    # Platform images whose base is not named like them (tools/platform/images).
    "spark-operator": {"SPARK_IMAGE": "spark"},
    "versitygw": {"SHELL_BASE_IMAGE": "shell"},
    "external-secrets": {"STATIC_BASE_IMAGE": "shell"},
}
NODE_IMAGES = ("pause", "coredns", "metrics-server", "local-path-provisioner")


class BuildError(RuntimeError):
    pass


@dataclass
class Image:
    name: str
    dockerfile: Path
    context: Path
    group: str  # "jobs" (bumped into overlays), "ci", "node" or "platform"
    binaries: tuple[Path, ...] = ()  # copied into a generated context (node images)
    build_args: dict[str, str] = field(default_factory=dict)


def discover(root: Path = L.ROOT) -> list[Image]:
    images = [Image(d.parent.name, d, root, "jobs") for d in sorted((root / "jobs" / "images").glob("*/Dockerfile"))]
    agent = root / "jenkins" / "agents" / "ci-agent" / "Dockerfile"
    if agent.exists():
        images.append(Image("ci-agent", agent, root, "ci"))
    tools_bin = L.TOOLS_DIR / "bin"
    for name in NODE_IMAGES:
        dockerfile = root / "tools" / "k8s" / "images" / name / "Dockerfile"
        binaries = {"pause": (root / "tools" / "k8s" / "pause" / "pause.c",), "coredns": (tools_bin / "coredns",),
                    "metrics-server": (tools_bin / "metrics-server",),
                    "local-path-provisioner": (tools_bin / "local-path-provisioner",)}[name]
        images.append(Image(name, dockerfile, dockerfile.parent, "node", binaries))
    # Upstream components the local platform runs (Argo CD, Redis, the Spark operator, ...): one
    # folder each. A COPY source that is not in the folder is a binary of .tools/bin (built at its
    # pin); a base of tools/images/bases.py named like the image, if any, is passed as BASE_IMAGE.
    for dockerfile in sorted((root / "tools" / "platform" / "images").glob("*/Dockerfile")):
        folder = dockerfile.parent
        binaries = tuple(tools_bin / source for source in copy_sources(dockerfile)
                         if not (folder / source).exists())
        images.append(Image(folder.name, dockerfile, folder, "platform", binaries))
    return images


SERVE_AS_LINE = re.compile(r"^#\s*serve-as:\s*(\S+)\s*$", re.MULTILINE)


def upstream_ref(dockerfile: Path, versions: dict[str, str] | None = None) -> str | None:
    """The name a platform image is also served under (`# serve-as: quay.io/x/y:${PIN}` in its
    Dockerfile, ${PIN} a line of tools/versions.env): the upstream image it stands in for, or a
    versioned name in our own registry."""
    match = SERVE_AS_LINE.search(dockerfile.read_text())
    if not match:
        return None
    versions = read_versions() if versions is None else versions

    def pin(m: re.Match) -> str:  # ${NAME}, or ${NAME#v}: without its leading v (shell's syntax)
        if m.group(1) not in versions:
            raise BuildError(f"{dockerfile}: `serve-as:` names {m.group(1)}, which tools/versions.env does not set")
        return versions[m.group(1)].removeprefix("v") if m.group(2) else versions[m.group(1)]
    return re.sub(r"\$\{([A-Z0-9_]+)(#v)?\}", pin, match.group(1))


def laptop_tags(root: Path = L.ROOT) -> dict[str, str]:
    """image name -> the tag clusters/local/laptop gives it (for images of our local registry)."""
    component = root / "clusters" / "local" / "laptop" / "kustomization.yaml"
    if not component.exists():
        return {}
    tags = {}
    for entry in (yaml.safe_load(component.read_text()) or {}).get("images") or []:
        name = entry.get("newName", "")
        if name.startswith(L.IMAGE_REPOSITORY + "/") and entry.get("newTag"):
            tags[name.rsplit("/", 1)[-1]] = str(entry["newTag"])
    return tags


def copy_sources(dockerfile: Path) -> list[str]:
    """The source paths of every COPY/ADD line that reads the build context (not --from=)."""
    sources = []
    text = dockerfile.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line.strip(), comments=True) if line.strip() else []
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources += args[:-1]
    return sources


def _hash_path(digest, path: Path) -> None:
    """Names (relative to `path`, so two clones agree) and contents of every file below `path`."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if "__pycache__" in file.parts:
            continue
        name = file.name if file == path else str(file.relative_to(path))
        digest.update(name.encode() + b"\0" + file.read_bytes() + b"\0")


class Builder:
    def __init__(self, tag: str, registry_port: int, log_dir: Path, records_dir: Path):
        self.tag = tag
        self.registry_port = registry_port
        self.log_dir = log_dir
        self.records_dir = records_dir
        run_root = L.RUN_DIR / "buildah-run"
        self.buildah = ["buildah", "--root", str(BUILDAH_ROOT), "--runroot", str(run_root),
                        "--storage-driver", "overlay"]
        self.bases = BaseBuilder(self.buildah)

    # --- inputs ----------------------------------------------------------------------------
    def build_args(self, image: Image) -> dict[str, str]:
        args = dict(image.build_args)
        for arg, base in self.bases_of(image).items():
            args[arg] = BASES[base].ref
        return args

    @staticmethod
    def bases_of(image: Image) -> dict[str, str]:
        if image.group == "platform" and image.name in BASES:
            return {"BASE_IMAGE": image.name}
        return LOCAL_BASE_ARGS.get(image.name, {})

    def input_key(self, image: Image, args: dict[str, str]) -> str:
        digest = hashlib.sha256(image.dockerfile.read_bytes())
        digest.update(json.dumps(args, sort_keys=True).encode())
        for source in copy_sources(image.dockerfile):
            if image.group != "node" and (image.context / source).exists():
                digest.update(source.encode() + b"\0")
                _hash_path(digest, image.context / source)
        for binary in image.binaries:
            _hash_path(digest, binary)
        return digest.hexdigest()[:24]

    # --- registry (through the host forwarder) ---------------------------------------------
    def _registry(self, method: str, path: str, data: bytes | None = None,
                  content_type: str | None = None) -> tuple[int, bytes, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.registry_port}{path}", data=data, method=method)
        request.add_header("Accept", MANIFEST_TYPES)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            return error.code, b"", ""

    def retag(self, name: str, digest: str, repository: str | None = None, tag: str | None = None) -> bool:
        """Tag mlops-platform/<name>@digest as <repository>:<tag> (default: itself, the commit SHA);
        another repository needs its blobs mounted there first."""
        repository, tag = repository or f"mlops-platform/{name}", tag or self.tag
        status, body, content_type = self._registry("GET", f"/v2/mlops-platform/{name}/manifests/{digest}")
        if status != 200:
            return False
        if repository != f"mlops-platform/{name}":
            manifest = json.loads(body)
            for blob in [manifest.get("config"), *manifest.get("layers", [])]:
                if blob:
                    status, _, _ = self._registry(
                        "POST", f"/v2/{repository}/blobs/uploads/?mount={blob['digest']}&from=mlops-platform/{name}", b"")
                    if status != 201:
                        return False
        status, _, _ = self._registry("PUT", f"/v2/{repository}/manifests/{tag}", body, content_type)
        return status in (200, 201)

    def publish_laptop_tag(self, image: Image, digest: str) -> str | None:
        """A job image is also tagged with the tag the local cluster's laptop component names
        (clusters/local/laptop), so a fresh local platform runs what was just built before any bump
        pins a digest."""
        if image.group != "jobs":
            return None
        tag = laptop_tags().get(image.name)
        if tag and not self.retag(image.name, digest, tag=tag):
            raise BuildError(f"image {image.name}: could not tag it {tag} in the local registry")
        return tag

    def publish_upstream_name(self, image: Image, digest: str) -> str | None:
        """A platform image is also served under its `serve-as:` name (see upstream_ref)."""
        ref = upstream_ref(image.dockerfile) if image.group == "platform" else None
        if ref is None:
            return None
        registry, _, rest = ref.partition("/")
        repository, _, tag = rest.rpartition(":")
        registries = (L.REGISTRY_HOST, *L.MIRRORED_REGISTRIES)
        if registry not in registries or not repository:
            raise BuildError(f"{image.dockerfile}: serve-as {ref} must be <registry>/<path>:<tag> with the "
                             f"registry one of {', '.join(registries)} (tools/k8s/layout.py)")
        if not self.retag(image.name, digest, repository, tag):
            raise BuildError(f"image {image.name}: could not tag it as {ref} in the local registry")
        return ref

    # --- build -----------------------------------------------------------------------------
    def build(self, image: Image) -> dict:
        started = time.monotonic()
        log_path = self.log_dir / f"{image.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as log:
            for base in self.bases_of(image).values():
                self.bases.ensure(BASES[base], log)
            args = self.build_args(image)
            key = self.input_key(image, args)
            record_file = RECORDS_CACHE / f"{image.name}.json"
            previous = json.loads(record_file.read_text()) if record_file.exists() else {}
            if previous.get("key") == key and self.retag(image.name, previous["digest"]):
                return self._result(image, previous["digest"], key, True, started)
            context = self._context(image)
            local = f"localhost/mlops-platform/{image.name}:{key}"
            command = [*self.buildah, "bud", "--layers", "--network", "host", "--pull=never",
                       "-f", str(image.dockerfile), "-t", local]
            for arg, value in args.items():
                command += ["--build-arg", f"{arg}={value}"]
            command.append(str(context))
            log.write(f"$ {shlex.join(command)}\n")
            log.flush()
            if subprocess.run(command, stdout=log, stderr=log).returncode != 0:
                raise BuildError(f"image {image.name}: buildah bud failed for {image.dockerfile}; "
                                 f"log: {log_path}\n{_tail(log_path)}")
            digest_file = self.log_dir / f"{image.name}.digest"
            destination = f"docker://127.0.0.1:{self.registry_port}/mlops-platform/{image.name}:{self.tag}"
            push = [*self.buildah, "push", "--tls-verify=false", "--digestfile", str(digest_file), local, destination]
            if subprocess.run(push, stdout=log, stderr=log).returncode != 0:
                raise BuildError(f"image {image.name}: push to the local registry failed; log: {log_path}\n"
                                 f"{_tail(log_path)}")
            digest = digest_file.read_text().strip()
            if previous.get("key") and previous["key"] != key:
                # The build this one supersedes: its tag goes, and with it its layers no other image
                # uses (buildah's storage lives outside the clone and nothing else prunes it).
                subprocess.run([*self.buildah, "rmi", f"localhost/mlops-platform/{image.name}:{previous['key']}"],
                               stdout=log, stderr=log)
        RECORDS_CACHE.mkdir(parents=True, exist_ok=True)
        record_file.write_text(json.dumps({
            "key": key, "digest": digest, "build_seconds": round(time.monotonic() - started, 2),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }) + "\n")
        return self._result(image, digest, key, False, started)

    def _context(self, image: Image) -> Path:
        if image.group not in ("node", "platform"):
            return image.context
        context = L.RUN_DIR / "images" / "contexts" / image.name
        shutil.rmtree(context, ignore_errors=True)
        shutil.copytree(image.dockerfile.parent, context)
        for binary in image.binaries:
            if not binary.is_file():
                target = "k8s-tools" if image.group == "node" else "platform-tools"
                raise BuildError(f"image {image.name}: {binary} missing; build it with `make {target}`")
            shutil.copy2(binary, context / binary.name)
        if image.name == "pause":
            subprocess.run(["gcc", "-static", "-Os", "-Wall", "-Wextra", "-o", str(context / "pause"),
                            str(L.ROOT / "tools" / "k8s" / "pause" / "pause.c")], check=True)
        return context

    def _result(self, image: Image, digest: str, key: str, cached: bool, started: float) -> dict:
        upstream = self.publish_upstream_name(image, digest)
        self.publish_laptop_tag(image, digest)
        result = {
            "name": image.name, "group": image.group,
            "image": f"{L.IMAGE_REPOSITORY}/{image.name}", "tag": self.tag, "digest": digest,
            "key": key, "cache_hit": cached, "seconds": round(time.monotonic() - started, 2),
        }
        if upstream:
            result["upstream"] = upstream
        self.records_dir.mkdir(parents=True, exist_ok=True)
        (self.records_dir / f"{image.name}.json").write_text(json.dumps(result, indent=2) + "\n")
        return result


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def node_image_refs(records_dir: Path) -> dict[str, str]:
    """name -> ref@digest of the node images from the last `images` run."""
    refs = {}
    for name in NODE_IMAGES:
        record = records_dir / f"{name}.json"
        if record.exists():
            data = json.loads(record.read_text())
            refs[name] = f"{data['image']}@{data['digest']}"
    return refs


def run(tag: str, only: list[str] | None, groups: list[str] | None, records_dir: Path) -> list[dict]:
    from tools.k8s.cluster import LocalKubernetes

    if shutil.which("buildah") is None or shutil.which("mmdebstrap") is None:
        raise BuildError("buildah and mmdebstrap are needed (make k8s-deps installs them as root)")
    port = LocalKubernetes().substrate_up()
    builder = Builder(tag, port, L.RUN_DIR / "images" / "logs", records_dir)
    images = [i for i in discover() if (not only or i.name in only) and (not groups or i.group in groups)]
    if only and {i.name for i in images} != set(only):
        raise BuildError(f"unknown image(s): {sorted(set(only) - {i.name for i in images})}")
    results = []
    for image in images:
        result = builder.build(image)
        state = "cache hit" if result["cache_hit"] else "built"
        print(f"image {result['name']} {result['image']}:{tag}@{result['digest']}  ({state}, {result['seconds']}s)",
              flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.images", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", required=True, help="the commit SHA every image is tagged with")
    parser.add_argument("--only", action="append", help="build only this image (repeatable)")
    parser.add_argument("--group", action="append", choices=("jobs", "ci", "node", "platform"))
    parser.add_argument("--records", type=Path, default=L.RUN_DIR / "images" / "local")
    args = parser.parse_args(argv)
    try:
        run(args.tag, args.only, args.group, args.records)
    except (BuildError, subprocess.CalledProcessError) as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    return 0
