"""Atomic, idempotent replacement of one dataset partition (one logical date).

Two commit strategies, chosen by URI scheme:

* Local filesystem (`RenameCommitter`): Spark writes into `<dataset>/_staging/<leaf>.<token>`;
  only when the write and its side files are complete is the old partition moved to
  `_trash/` and the staging dir renamed into place (two renames, each atomic), then the trash is
  removed. A crash while writing leaves the old partition untouched; a crash between the two
  renames is healed by `recover()` (run before every write and every resolve), which moves the
  newest trashed copy back.
* Object storage, s3a (`PointerCommitter`): renames are copies there, so data is written once to
  an immutable version prefix `<dataset>/_versions/<leaf>/<token>/` and the commit is a single PUT
  of the pointer `<dataset>/_pointers/<leaf>.json` naming that prefix. Readers resolve the pointer,
  so they see the old version or the new one, never a mix. Older versions are pruned after the
  swap. This strategy works on any Hadoop filesystem, so it is tested locally on file:// URIs.

Directories starting with `_` are ignored by Spark's partition discovery, so staging, trash
and versions never leak into a read of the whole dataset.
"""
import json
import shutil
import uuid
from collections.abc import Callable

from etl import storage

WriteFn = Callable[[str], None]


def _new_token() -> str:
    return uuid.uuid4().hex[:12]


class RenameCommitter:
    def __init__(self, partition_uri: str):
        self.final = storage.local_path(partition_uri)
        self.leaf = self.final.name
        self.staging_dir = self.final.parent / "_staging"
        self.trash_dir = self.final.parent / "_trash"

    def recover(self) -> None:
        trashed = sorted(self.trash_dir.glob(f"{self.leaf}.*"), key=lambda p: p.stat().st_mtime)
        if trashed and not self.final.exists():
            trashed[-1].rename(self.final)
            trashed = trashed[:-1]
        for leftover in trashed:
            shutil.rmtree(leftover, ignore_errors=True)

    def resolve(self) -> str:
        self.recover()
        return str(self.final)

    def commit(self, write: WriteFn, side_files: dict[str, str]) -> str:
        self.recover()
        token = _new_token()
        staging = self.staging_dir / f"{self.leaf}.{token}"
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(str(staging))
            for name, text in side_files.items():
                (staging / name).write_text(text, encoding="utf-8")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        trashed = self.trash_dir / f"{self.leaf}.{token}"
        if self.final.exists():
            trashed.parent.mkdir(parents=True, exist_ok=True)
            self.final.rename(trashed)
        staging.rename(self.final)
        shutil.rmtree(trashed, ignore_errors=True)
        for scratch in (self.staging_dir, self.trash_dir):
            if scratch.is_dir() and not any(scratch.iterdir()):
                scratch.rmdir()
        return str(self.final)


class PointerCommitter:
    def __init__(self, spark, partition_uri: str):
        self.spark = spark
        parent, _, self.leaf = partition_uri.rstrip("/").rpartition("/")
        self.versions_uri = storage.join(parent, "_versions", self.leaf)
        self.pointer_uri = storage.join(parent, "_pointers", f"{self.leaf}.json")
        self.fs = storage.HadoopFs(spark)

    def resolve(self) -> str:
        if not self.fs.exists(self.pointer_uri):
            raise FileNotFoundError(f"no committed version: pointer {self.pointer_uri} does not exist")
        return json.loads(self.fs.read_text(self.pointer_uri))["location"]

    def commit(self, write: WriteFn, side_files: dict[str, str]) -> str:
        token = _new_token()
        location = storage.join(self.versions_uri, token)
        write(location)
        for name, text in side_files.items():
            self.fs.write_text(storage.join(location, name), text)
        previous = self.resolve() if self.fs.exists(self.pointer_uri) else None
        self.fs.write_text(self.pointer_uri, json.dumps({"location": location, "token": token}))
        self._prune(keep={location, previous})
        return location

    def _prune(self, keep: set) -> None:
        versions = [storage.join(self.versions_uri, name) for name in self.fs.list_names(self.versions_uri)]
        stale = [uri for uri in versions if uri not in keep]
        for uri in stale:
            self.fs.delete(uri)


def committer_for(spark, partition_uri: str):
    if storage.is_local(partition_uri):
        return RenameCommitter(partition_uri)
    return PointerCommitter(spark, partition_uri)


def write_partition(spark, partition_uri: str, write: WriteFn, side_files: dict[str, str] | None = None) -> str:
    """Replace the partition at partition_uri with what `write(target_uri)` produces; returns
    the location readers should use."""
    return committer_for(spark, partition_uri).commit(write, {} if side_files is None else side_files)


def resolve_partition(spark, partition_uri: str) -> str:
    return committer_for(spark, partition_uri).resolve()
