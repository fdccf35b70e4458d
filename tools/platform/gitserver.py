"""The local git server Argo CD reads this repository (and the upstream mirrors) from.

Smart HTTP, read-only: `git http-backend` (git's own server side) behind a small HTTP server, so
Argo CD clones and fetches exactly as from a hosted remote. Pushes go to the bare repositories on
disk (the "remote" a developer or the CI bot pushes to); receive-pack is refused here. Files under
`charts/` are served as they are: the Helm repositories (index.yaml + chart archives) of the charts
our Applications pull.

It runs inside the node's network namespace (started by tools.platform), so pods reach it at the
node address and nothing outside the machine can.

    python -m tools.platform.gitserver --root DIR --port PORT --tag STATE_DIR
"""
from __future__ import annotations

import mimetypes
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tools.platform import serving


class Handler(serving.JsonHandler):
    root: Path
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        if ".." in Path(path).parts:
            return self._plain(400, "bad path\n")
        if path.startswith("/git/"):
            if "git-receive-pack" in path or "service=git-receive-pack" in url.query:
                return self._plain(403, "read-only: push to the repository on disk\n")
            return self._git(path[len("/git"):], url.query)
        if path.startswith("/charts/"):
            return self._file(self.root / path.lstrip("/"))
        if path == "/healthz":
            return self._plain(200, "ok\n")
        return self._plain(404, "not found\n")

    def _plain(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _file(self, file: Path) -> None:
        if not file.is_file():
            return self._plain(404, "not found\n")
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _git(self, path_info: str, query: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root / "git"), "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path_info, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0], "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run([shutil.which("git") or "git", "http-backend"], input=body, env=env,
                                capture_output=True)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if result.returncode != 0 and not result.stdout:
            return self._plain(500, result.stderr.decode(errors="replace"))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _read_chunked(self) -> bytes:
        data = b""
        while True:
            size = int(self.rfile.readline().strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return data
            data += self.rfile.read(size)
            self.rfile.readline()


def main(argv: list[str] | None = None) -> int:
    parser = serving.parser("python -m tools.platform.gitserver", __doc__)
    parser.add_argument("--root", type=Path, required=True, help="holds git/<repo>.git and charts/<repo>/")
    args = parser.parse_args(argv)
    Handler.root = args.root.resolve()
    return serving.serve(Handler, args.bind, args.port)


if __name__ == "__main__":
    sys.exit(main())
