"""python -m tools.idp up|down|status  (the Makefile's idp-up/idp-down/idp-status), and the two
helpers `up` runs where the server listens (inside IDP_NETNS when set): probe, configure."""
from __future__ import annotations

import argparse
import os
import sys

from .keycloak import Config, IdpError, configure, discovery, down, status, up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.idp")
    parser.add_argument("command", choices=["up", "down", "status", "probe", "configure"])
    parser.add_argument("base_url", nargs="?")
    args = parser.parse_args(argv)
    try:
        if args.command == "probe":
            return 0 if discovery(args.base_url) else 1
        if args.command == "configure":
            configure(args.base_url, os.environ["IDP_ADMIN_USER"], os.environ["IDP_ADMIN_PASSWORD"])
            return 0
        cfg = Config.from_env()
        return {"up": up, "down": down, "status": status}[args.command](cfg)
    except IdpError as err:
        print(f"idp: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
