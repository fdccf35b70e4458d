#!/bin/bash
# Entrypoint of the local PostgreSQL image, with the env contract of docker.io/library/postgres that
# our manifests use:
#   POSTGRES_PASSWORD  required on first start: the password of POSTGRES_USER (scram-sha-256)
#   POSTGRES_USER      superuser created by initdb (default postgres)
#   POSTGRES_DB        database created on first start (default: POSTGRES_USER)
#   PGDATA             data directory (default /var/lib/postgresql/data); initialised when empty
# Then the server listens on every address; TCP clients authenticate with scram-sha-256, local
# socket clients (pg_isready, this script) are trusted. Runs as the image's user (uid 999).
set -euo pipefail

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
SOCKET_DIR="${POSTGRES_SOCKET_DIR:-/var/run/postgresql}"

log() { echo "entrypoint: $*" >&2; }

# `docker run image -c foo=bar` means postgres' own flags, as upstream.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = "-" ]; then
  set -- postgres "$@"
fi

initialise() {
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    log "PGDATA $PGDATA is empty and POSTGRES_PASSWORD is not set: refusing to create a database without a password"
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then
    log "runs as uid 999 (postgres), not root"
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  local pwfile
  pwfile="$(mktemp)"
  trap 'rm -f "$pwfile"' RETURN
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  log "initialising $PGDATA (superuser $POSTGRES_USER)"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  # Every address, every database and user, password checked (initdb only allows loopback).
  printf '\n# entrypoint: any address, password auth\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  printf "\n# entrypoint\nlisten_addresses = '*'\npassword_encryption = 'scram-sha-256'\n" >>"$PGDATA/postgresql.conf"

  # A private server (socket only) to create the database, then stopped.
  pg_ctl --pgdata="$PGDATA" --wait --silent \
    -o "-c listen_addresses='' -c unix_socket_directories=$SOCKET_DIR" start
  if [ "$POSTGRES_DB" != postgres ]; then
    log "creating database $POSTGRES_DB"
    psql --quiet --no-psqlrc -v ON_ERROR_STOP=1 --host="$SOCKET_DIR" --username="$POSTGRES_USER" \
      --dbname=postgres -v db="$POSTGRES_DB" -v owner="$POSTGRES_USER" <<'SQL'
CREATE DATABASE :"db" OWNER :"owner";
SQL
  fi
  pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
  log "initialised"
}

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  initialise
fi
exec "$@"
