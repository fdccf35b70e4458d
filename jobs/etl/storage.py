"""Storage URIs: plain local paths (default) or Hadoop URIs such as s3a://bucket/prefix.

Small text files (stats, manifests, pointers) go through Hadoop's FileSystem API for non-local
URIs, so the same code writes to NHN Cloud Object Storage through s3a in the cluster.
"""
from pathlib import Path
from urllib.parse import urlparse


def is_local(uri: str) -> bool:
    return urlparse(str(uri)).scheme in ("", "file")


def local_path(uri: str) -> Path:
    parsed = urlparse(str(uri))
    return Path(parsed.path if parsed.scheme == "file" else str(uri))


def join(base: str, *parts: str) -> str:
    return "/".join([str(base).rstrip("/"), *[p.strip("/") for p in parts]])


class HadoopFs:
    """Thin wrapper over org.apache.hadoop.fs.FileSystem reached through the Spark JVM."""

    def __init__(self, spark):
        self._jvm = spark._jvm
        self._conf = spark._jsc.hadoopConfiguration()

    def _fs_path(self, uri: str):
        path = self._jvm.org.apache.hadoop.fs.Path(str(uri))
        return path.getFileSystem(self._conf), path

    def write_text(self, uri: str, text: str) -> None:
        fs, path = self._fs_path(uri)
        stream = fs.create(path, True)  # one PUT on object stores: readers see old or new, never half
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def read_text(self, uri: str) -> str:
        fs, path = self._fs_path(uri)
        stream = fs.open(path)
        try:
            return self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def exists(self, uri: str) -> bool:
        fs, path = self._fs_path(uri)
        return bool(fs.exists(path))

    def delete(self, uri: str) -> None:
        fs, path = self._fs_path(uri)
        fs.delete(path, True)

    def list_names(self, uri: str) -> list[str]:
        fs, path = self._fs_path(uri)
        if not fs.exists(path):
            return []
        return sorted(status.getPath().getName() for status in fs.listStatus(path))


def write_text(spark, uri: str, text: str) -> None:
    if is_local(uri):
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic on POSIX
    else:
        HadoopFs(spark).write_text(uri, text)


def read_text(spark, uri: str) -> str:
    if is_local(uri):
        return local_path(uri).read_text(encoding="utf-8")
    return HadoopFs(spark).read_text(uri)


def list_names(spark, uri: str) -> list[str]:
    if is_local(uri):
        path = local_path(uri)
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    return HadoopFs(spark).list_names(uri)
