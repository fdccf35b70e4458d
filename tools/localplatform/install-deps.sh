#!/usr/bin/env bash
# Installs the Debian packages the local platform runs (PostgreSQL server, Chromium) when missing.
# Idempotent and quick when everything is present; `apt-get update` runs only if something is missing.
set -euo pipefail

missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && ! command -v postgres >/dev/null; then
  missing+=(postgresql)
fi
command -v psql >/dev/null || missing+=(postgresql-client)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v git >/dev/null || missing+=(git)

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "localplatform: missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# PostgreSQL refuses to run as root; the Debian package creates this user, a bare install may not.
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi
