"""A git-sync v4-compatible syncer for the local platform (run: python -m tools.localplatform.gitsync).

Why not the real binary: the Go module proxy this project may use refuses `k8s.io/git-sync` (every
version, including pseudo-versions), so git-sync cannot be built here. This program reads the same
GITSYNC_* settings from the rendered ConfigMap and keeps git-sync v4's on-disk contract, which is all
Airflow sees: a repository under GITSYNC_ROOT, one worktree per synced commit, and a symlink
GITSYNC_ROOT/GITSYNC_LINK swapped atomically to the newest worktree every GITSYNC_PERIOD.
With GITSYNC_HTTP_BIND set (e.g. ":2020", as in the pod manifests) it also serves git-sync's probe
endpoint: "/" answers 200 once a sync has succeeded, 503 before; GITSYNC_HTTP_METRICS=true adds a
small Prometheus text endpoint on /metrics. Packaged as the local cluster's git-sync image by
tools/platform/images/git-sync.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Settings this syncer implements; any other GITSYNC_* is reported once as ignored.
SUPPORTED = {"GITSYNC_REPO", "GITSYNC_REF", "GITSYNC_ROOT", "GITSYNC_LINK", "GITSYNC_PERIOD",
             "GITSYNC_DEPTH", "GITSYNC_ONE_TIME", "GITSYNC_MAX_FAILURES", "GITSYNC_SYNC_TIMEOUT",
             "GITSYNC_VERBOSE", "GITSYNC_ADD_USER", "GITSYNC_GIT_CONFIG", "GITSYNC_HTTP_BIND",
             "GITSYNC_HTTP_METRICS"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class SyncError(RuntimeError):
    pass


def parse_duration(text: str) -> float:
    """Go duration ("10s", "1m30s", "500ms") in seconds, as git-sync's flags take them."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 10s, 1m30s, 500ms)")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def parse_bind(text: str) -> tuple[str, int] | None:
    """GITSYNC_HTTP_BIND ("host:port" or ":port") as (host, port); None when empty (no server)."""
    text = text.strip()
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"GITSYNC_HTTP_BIND: not host:port or :port: {text!r}")
    return host.strip("[]"), int(port)


def _log(event: str, **fields) -> None:
    print(json.dumps({"ts": time.time(), "event": event, **fields}), flush=True)


class Syncer:
    def __init__(self, env: dict[str, str]):
        if not env.get("GITSYNC_REPO") or not env.get("GITSYNC_ROOT"):
            raise SystemExit("git-sync: GITSYNC_REPO and GITSYNC_ROOT are required")
        self.repo = env["GITSYNC_REPO"]
        self.ref = env.get("GITSYNC_REF", "HEAD")
        self.root = Path(env["GITSYNC_ROOT"])
        self.link = self.root / env.get("GITSYNC_LINK", Path(self.repo).name.removesuffix(".git"))
        self.period = parse_duration(env.get("GITSYNC_PERIOD", "10s"))
        self.depth = int(env.get("GITSYNC_DEPTH", "1"))
        self.one_time = env.get("GITSYNC_ONE_TIME", "false").lower() == "true"
        self.max_failures = int(env.get("GITSYNC_MAX_FAILURES", "0"))
        self.timeout = parse_duration(env.get("GITSYNC_SYNC_TIMEOUT", "120s"))
        self.git_dir = self.root / ".git"
        self.worktrees = self.root / ".worktrees"
        self.bind = parse_bind(env.get("GITSYNC_HTTP_BIND", ""))
        self.metrics = env.get("GITSYNC_HTTP_METRICS", "false").lower() == "true"
        self.counts = {"success": 0, "error": 0}
        self.last_success: float | None = None
        ignored = sorted(k for k in env if k.startswith("GITSYNC_") and k not in SUPPORTED)
        if ignored:
            _log("ignored-settings", keys=ignored)

    def _git(self, *args: str) -> str:
        proc = subprocess.run(["git", f"--git-dir={self.git_dir}", *args], capture_output=True,
                              text=True, timeout=self.timeout)
        if proc.returncode != 0:
            raise SyncError(f"git {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def current(self) -> str | None:
        try:
            return Path(os.readlink(self.link)).name
        except (FileNotFoundError, OSError):
            return None

    def sync_once(self) -> bool:
        """Fetch GITSYNC_REF; if it moved, check it out and swap the link. True when it changed."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.git_dir / "HEAD").exists():
            subprocess.run(["git", "init", "--quiet", "--bare", str(self.git_dir)], check=True)
        depth = ["--depth", str(self.depth)] if self.depth > 0 else []
        self._git("fetch", "--quiet", "--force", "--no-tags", *depth, self.repo, self.ref)
        head = self._git("rev-parse", "FETCH_HEAD^{commit}")
        if head == self.current():
            return False
        target = self.worktrees / head
        if not target.exists():
            self._git("worktree", "prune")
            self._git("worktree", "add", "--quiet", "--detach", "--force", str(target), head)
        previous = self.current()
        tmp_link = self.root / f".{self.link.name}.tmp"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(Path(".worktrees") / head)  # relative, like git-sync's link
        os.replace(tmp_link, self.link)  # atomic: readers see the old or the new tree, never half
        if previous and previous != head:
            shutil.rmtree(self.worktrees / previous, ignore_errors=True)
            self._git("worktree", "prune")
        _log("synced", hash=head, ref=self.ref)
        return True

    def metrics_text(self) -> str:
        lines = ["# HELP git_sync_count_total How many sync attempts ended, by status.",
                 "# TYPE git_sync_count_total counter"]
        lines += [f'git_sync_count_total{{status="{k}"}} {v}' for k, v in sorted(self.counts.items())]
        lines += ["# HELP git_sync_last_sync_timestamp_seconds When the last successful sync ended.",
                  "# TYPE git_sync_last_sync_timestamp_seconds gauge",
                  f"git_sync_last_sync_timestamp_seconds {self.last_success or 0}"]
        return "\n".join(lines) + "\n"

    def serve_http(self) -> ThreadingHTTPServer | None:
        """Start the probe (and metrics) server of GITSYNC_HTTP_BIND in a thread; None if unset."""
        if self.bind is None:
            return None
        syncer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path == "/":
                    code, body = (200, "ok\n") if syncer.last_success is not None else (503, "not synced yet\n")
                elif self.path == "/metrics" and syncer.metrics:
                    code, body = 200, syncer.metrics_text()
                else:
                    code, body = 404, "not found\n"
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # probes every few seconds: no access log
                pass

        server = ThreadingHTTPServer(self.bind, Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="git-sync-http", daemon=True).start()
        _log("http-serving", address=f"{self.bind[0]}:{server.server_address[1]}", metrics=self.metrics)
        return server

    def run(self) -> int:
        failures = 0
        self.serve_http()
        while True:
            try:
                self.sync_once()
                failures = 0
                self.counts["success"] += 1
                self.last_success = time.time()
            except (SyncError, subprocess.SubprocessError) as err:
                failures += 1
                self.counts["error"] += 1
                _log("sync-failed", error=str(err), failures=failures)
                if 0 <= self.max_failures < failures:
                    return 1
            if self.one_time and failures == 0:
                return 0
            time.sleep(self.period)


def main() -> int:
    return Syncer(dict(os.environ)).run()


if __name__ == "__main__":
    sys.exit(main())
