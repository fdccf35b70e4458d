"""Base images built from Debian's packages with mmdebstrap, standing in for the upstream bases
(`apache/airflow`, `apache/spark`, `maven`, `golang`) that no registry here serves.

Each base provides exactly the contract our Dockerfiles rely on from its upstream (user, paths,
tools on PATH); the Dockerfiles take the base as a build argument, so Jenkins builds the same
files on the upstream images with kaniko. A base is rebuilt only when its key changes: the
package list, the hook commands, the apt sources and the locked Python packages it installs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tools.k8s.layout import CACHE_DIR, ROOT
from tools.versions import read_versions

SUITE = "bookworm"  # python3.11, the version requirements.lock is resolved for
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BASE_REPOSITORY = "localhost/mlops-base"
# Extra certificate authorities this machine trusts (its egress to the package registries may be
# re-signed). A local base trusts what the machine trusts, so its build steps (pip, Maven) reach
# the same registries; Jenkins builds on the upstream bases and never sees these.
MACHINE_CAS = Path("/usr/local/share/ca-certificates")
ENTRYPOINT_PATH = "/opt/entrypoint.sh"  # where apache/spark keeps its entrypoint
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def locked_requirements(*names: str) -> str:
    """The lines of requirements.lock for `names` (with their hashes), as a requirements file."""
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    out, keep = [], False
    for line in lines:
        if line and not line.startswith((" ", "#")):
            keep = line.split("==")[0].strip().lower() in names
        if keep:
            out.append(line.rstrip(" \\") if not line.startswith(" ") else line.strip().rstrip(" \\"))
    found = {line.split("==")[0].lower() for line in out if "==" in line}
    missing = set(names) - found
    if missing:
        raise ValueError(f"requirements.lock: no pin for {sorted(missing)}")
    # Re-join each requirement with its hashes on one line (pip's format, without continuations).
    joined, current = [], ""
    for line in out:
        if line.startswith("--hash"):
            current += " " + line
        else:
            if current:
                joined.append(current)
            current = line
    joined.append(current)
    return "\n".join(joined) + "\n"


@dataclass(frozen=True)
class Base:
    name: str
    packages: tuple[str, ...]
    hooks: tuple[str, ...] = ()  # run with the new root as $1 (mmdebstrap's customize hooks)
    env: dict[str, str] = field(default_factory=dict)
    user: str = "0"
    workdir: str = "/"
    files: dict[str, str] = field(default_factory=dict)  # path in the root -> content
    # A script of this repository that becomes the image's ENTRYPOINT (at ENTRYPOINT_PATH), added on
    # top of the root file system, so changing it does not bootstrap the root again.
    entrypoint: Path | None = None

    def rootfs_key(self) -> str:
        digest = hashlib.sha256()
        cas = [p.read_text() for p in sorted(MACHINE_CAS.glob("*.crt"))]
        for part in (SUITE, *self.packages, *self.hooks, repr(sorted(self.env.items())), self.user,
                     self.workdir, repr(sorted(self.files.items())), APT_SOURCES.read_text(), *cas):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:16]

    def key(self) -> str:
        if self.entrypoint is None:
            return self.rootfs_key()
        digest = hashlib.sha256(self.rootfs_key().encode() + b"\0" + self.entrypoint.read_bytes())
        return digest.hexdigest()[:16]

    @property
    def ref(self) -> str:
        return f"{BASE_REPOSITORY}/{self.name}:{self.key()}"


def _airflow() -> Base:
    # apache/airflow's contract: uid 50000 (group 0), HOME /home/airflow, pip on PATH for that user.
    return Base(
        name="airflow",
        packages=("python3", "python3-venv", "ca-certificates", "libpq5"),
        hooks=(
            'chroot "$1" useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow airflow',
            'chroot "$1" python3 -m venv /home/airflow/.local',
            'mkdir -p "$1/opt/airflow" && chroot "$1" chown -R 50000:0 /home/airflow /opt/airflow',
        ),
        env={"PATH": f"/home/airflow/.local/bin:{DEFAULT_PATH}", "AIRFLOW_HOME": "/opt/airflow",
             "HOME": "/home/airflow"},
        user="50000",
        workdir="/opt/airflow",
    )


def _spark() -> Base:
    # apache/spark's contract: SPARK_HOME=/opt/spark (bin/, jars/, python/ with pyspark and py4j),
    # Java 17, python3 with pip, user 185, /opt/spark/work-dir. The JVM side comes from the locked
    # pyspark wheel, so the Python and JVM Spark versions cannot differ.
    return Base(
        name="spark",
        packages=("python3", "python3-pip", "python3-venv", "openjdk-17-jre-headless", "procps", "bash",
                  "tini", "ca-certificates"),
        files={"/tmp/spark-requirements.txt": locked_requirements("pyspark", "py4j")},
        hooks=(
            'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
            'chroot "$1" python3 -m pip install --no-cache-dir --no-deps --require-hashes '
            '--target /opt/spark/python -r /tmp/spark-requirements.txt',
            'for d in bin sbin jars; do ln -s python/pyspark/$d "$1/opt/spark/$d"; done',
            'mkdir -p "$1/opt/spark/work-dir" && chroot "$1" useradd --uid 185 --gid 0 --no-create-home '
            '--home-dir /opt/spark spark && chroot "$1" chown 185:0 /opt/spark/work-dir',
            'rm -f "$1/tmp/spark-requirements.txt"',
        ),
        env={"PATH": f"/opt/spark/bin:{DEFAULT_PATH}", "SPARK_HOME": "/opt/spark",
             "JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64", "PYTHONPATH": "/opt/spark/python"},
        user="185",
        workdir="/opt/spark/work-dir",
        # Spark on Kubernetes starts driver and executor pods with `driver ...` / `executor ...`
        # arguments, which apache/spark's image turns into processes; this is our script for that.
        entrypoint=ROOT / "tools" / "images" / "spark" / "entrypoint.sh",
    )


def _maven() -> Base:
    return Base(name="maven", packages=("maven", "openjdk-17-jdk-headless", "ca-certificates"),
                env={"PATH": DEFAULT_PATH, "JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64"})


def _golang() -> Base:
    # golang:<version>-bookworm's contract: Go at /usr/local/go on PATH, GOPATH=/go, git and gcc.
    # Debian has no Go 1.26, so the base carries this machine's Go toolchain, whose version is part
    # of the key (the CI agent's Dockerfile names the version it expects).
    goroot = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True).stdout.strip()
    version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    return Base(
        name="golang",
        packages=("ca-certificates", "git", "gcc", "libc6-dev", "make", "curl"),
        hooks=(f'cp -a {goroot} "$1/usr/local/go"  # {version}', 'mkdir -p "$1/go"'),
        env={"PATH": f"/go/bin:/usr/local/go/bin:{DEFAULT_PATH}", "GOPATH": "/go"},
    )


def _shell() -> Base:
    # The local-path provisioner's helper pods run `sh -c` to create and remove volume folders.
    return Base(name="shell", packages=("coreutils", "ca-certificates"), env={"PATH": DEFAULT_PATH})


def _argocd() -> Base:
    # quay.io/argoproj/argocd's contract: user 999 (argocd, group 0 may write HOME), HOME
    # /home/argocd, git, gpg and tini; /app/config/{ssh,tls,gpg/source,gpg/keys} exist.
    return Base(
        name="argocd",
        packages=("git", "git-lfs", "tini", "gpg", "gpg-agent", "tzdata", "ca-certificates", "openssh-client"),
        hooks=(
            'chroot "$1" groupadd -g 999 argocd',
            'chroot "$1" useradd -r -u 999 -g argocd --home-dir /home/argocd argocd',
            'mkdir -p "$1/home/argocd" "$1/app/config/ssh" "$1/app/config/tls" "$1/app/config/gpg/source" '
            '"$1/app/config/gpg/keys"',
            'chroot "$1" chown argocd:0 /home/argocd /app/config/gpg/keys && chmod g=u "$1/home/argocd" '
            '&& chmod 0700 "$1/app/config/gpg/keys"',
            'touch "$1/app/config/ssh/ssh_known_hosts" && mkdir -p "$1/etc/ssh" '
            '&& ln -sf /app/config/ssh/ssh_known_hosts "$1/etc/ssh/ssh_known_hosts"',
        ),
        env={"PATH": DEFAULT_PATH, "USER": "argocd", "HOME": "/home/argocd"},
        user="999",
        workdir="/home/argocd",
    )


def _redis() -> Base:
    # Argo CD's cache. Debian's redis-server (bookworm: 7.0), user 999 like the upstream image.
    return Base(
        name="redis",
        packages=("redis-server", "ca-certificates"),
        hooks=('mkdir -p "$1/data"',
               'chroot "$1" usermod -u 999 redis && chroot "$1" groupmod -g 999 redis '
               '&& chroot "$1" chown -R 999:999 /data /var/lib/redis'),
        env={"PATH": DEFAULT_PATH},
        user="999",
        workdir="/data",
    )


def _postgres() -> Base:
    # docker.io/library/postgres's contract, on Debian's PostgreSQL (bookworm has no 17, so the
    # major version is POSTGRES_LOCAL_VERSION): user postgres with uid/gid 999, the server binaries
    # (initdb, pg_ctl, postgres) and the client ones (psql, pg_isready) on PATH, sockets in
    # /var/run/postgresql, PGDATA /var/lib/postgresql/data. The image's entrypoint is ours
    # (tools/platform/images/postgres). Debian's package creates a `main` cluster on install: dropped.
    major = read_versions()["POSTGRES_LOCAL_VERSION"]
    return Base(
        name="postgres",
        packages=(f"postgresql-{major}", "ca-certificates", "tzdata"),
        hooks=(
            f'rm -rf "$1/var/lib/postgresql/{major}/main" "$1/etc/postgresql/{major}/main"',
            'chroot "$1" usermod -u 999 postgres && chroot "$1" groupmod -g 999 postgres',
            'mkdir -p "$1/var/lib/postgresql/data" "$1/var/run/postgresql"',
            'chroot "$1" chown -R 999:999 /var/lib/postgresql /var/run/postgresql',
            'chmod 3777 "$1/var/run/postgresql" && chmod 0700 "$1/var/lib/postgresql/data"',
        ),
        env={"PATH": f"/usr/lib/postgresql/{major}/bin:{DEFAULT_PATH}", "PGDATA": "/var/lib/postgresql/data",
             "LANG": "C.UTF-8"},
        user="999",
        workdir="/var/lib/postgresql",
    )


def _git_sync() -> Base:
    # registry.k8s.io/git-sync/git-sync's contract for our stand-in (tools/localplatform/gitsync.py):
    # git on PATH, uid/gid 65533 (git-sync) with HOME=/tmp, an init (tini) as PID 1 so SIGTERM ends
    # the syncer; python3 runs the stand-in.
    return Base(
        name="git-sync",
        packages=("git", "python3", "tini", "ca-certificates"),
        hooks=('chroot "$1" groupadd -g 65533 git-sync',
               'chroot "$1" useradd -u 65533 -g 65533 --no-create-home --home-dir /tmp '
               '--shell /usr/sbin/nologin git-sync'),
        env={"PATH": DEFAULT_PATH, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
        user="65533",
    )


BASES = {b.name: b for b in (_airflow(), _spark(), _maven(), _golang(), _shell(), _argocd(), _redis(),
                             _postgres(), _git_sync())}


class BaseBuilder:
    def __init__(self, buildah: list[str], cache_dir: Path = CACHE_DIR / "bases"):
        self.buildah = buildah
        self.cache_dir = cache_dir

    def exists(self, base: Base) -> bool:
        return subprocess.run([*self.buildah, "inspect", "--type", "image", base.ref],
                              capture_output=True).returncode == 0

    def ensure(self, base: Base, log) -> tuple[str, bool]:
        """The base's image reference, building it first if needed; (ref, was_cached)."""
        if self.exists(base):
            return base.ref, True
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tarball = self.cache_dir / f"{base.name}-{base.rootfs_key()}.tar"
        if not tarball.exists():
            self._debootstrap(base, tarball, log)
        container = subprocess.run([*self.buildah, "from", "scratch"], check=True, capture_output=True,
                                   text=True).stdout.strip()
        try:
            subprocess.run([*self.buildah, "add", container, str(tarball), "/"], check=True, stdout=log, stderr=log)
            config = [*self.buildah, "config", "--user", base.user, "--workingdir", base.workdir]
            for key, value in base.env.items():
                config += ["--env", f"{key}={value}"]
            if base.entrypoint is not None:
                subprocess.run([*self.buildah, "copy", "--chmod", "0755", container, str(base.entrypoint),
                                ENTRYPOINT_PATH], check=True, stdout=log, stderr=log)
                config += ["--entrypoint", json.dumps([ENTRYPOINT_PATH])]
            subprocess.run([*config, container], check=True, stdout=log, stderr=log)
            subprocess.run([*self.buildah, "commit", "--rm", container, base.ref], check=True, stdout=log, stderr=log)
        except subprocess.CalledProcessError:
            subprocess.run([*self.buildah, "rm", container], capture_output=True)
            raise
        return base.ref, False

    def _debootstrap(self, base: Base, tarball: Path, log) -> None:
        with tempfile.TemporaryDirectory(prefix=f"base-{base.name}-") as work:
            hooks = []
            if list(MACHINE_CAS.glob("*.crt")):
                hooks.append(f'mkdir -p "$1{MACHINE_CAS}" && cp {MACHINE_CAS}/*.crt "$1{MACHINE_CAS}/" '
                             '&& chroot "$1" update-ca-certificates >/dev/null')
            for path, content in base.files.items():
                source = Path(work) / Path(path).name
                source.write_text(content)
                hooks.append(f'mkdir -p "$1{os.path.dirname(path)}" && cp {source} "$1{path}"')
            hooks += list(base.hooks)
            # apt's lists and caches are not part of the image.
            hooks.append('rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*')
            command = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar",
                       f"--include={','.join(base.packages)}"]
            for hook in hooks:
                command.append(f"--customize-hook={hook}")
            partial = tarball.with_suffix(".partial")
            command += [SUITE, str(partial), str(APT_SOURCES)]
            try:
                subprocess.run(command, check=True, stdout=log, stderr=log)
            except subprocess.CalledProcessError:
                partial.unlink(missing_ok=True)
                raise
            partial.rename(tarball)
