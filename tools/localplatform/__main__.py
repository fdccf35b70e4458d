"""CLI: python -m tools.localplatform {up,down,status}."""

from __future__ import annotations

import argparse
import sys

from . import platform
from .layout import default_layout
from .settings import ManifestError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localplatform", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    layout = default_layout()
    if args.command == "up":
        try:
            platform.up(layout)
        except (ManifestError, RuntimeError, TimeoutError) as err:
            print(f"localplatform up: {err}", file=sys.stderr)
            print(f"  (logs: {layout.log_dir}; stop with `make down`)", file=sys.stderr)
            return 1
        user, password = platform.admin_login(layout)
        print(f"Airflow UI:  {layout.api_url}   login: {user} / {password}")
        print(f"DAG repo:    {layout.git_url}  (push to branch main; git-sync pulls it)")
        print(f"Alerts:      SMTP 127.0.0.1:{layout.smtp_port}, webhooks {layout.webhook_base}/{{slack,dooray}}; "
              f"received messages in {layout.inbox_dir}")
        print(f"Logs:        {layout.log_dir}")
        return 0
    if args.command == "down":
        strays = platform.down(layout)
        for pid, cmd in strays:
            print(f"localplatform down: killed stray process {pid}: {cmd}", file=sys.stderr)
        print("local platform stopped")
        return 0
    for name, running in platform.status(layout).items():
        print(f"{name:24s} {'running' if running else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
