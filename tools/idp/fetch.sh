#!/usr/bin/env bash
# Fetch Keycloak's distribution (org.keycloak:keycloak-quarkus-dist:<KEYCLOAK_VERSION>:zip) with Maven
# into a cache outside the repository, check it against the .sha1 published next to it, and unpack
# it once (pristine; `tools.idp up` copies it into its state dir, so the cache is never written to).
# Prints the unpacked distribution's directory. Idempotent: a verified unpacked copy is reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION="${KEYCLOAK_VERSION:-$(sed -n 's/^KEYCLOAK_VERSION=//p' "$ROOT/tools/versions.env")}"
CACHE="${IDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform/keycloak}"
M2="$CACHE/m2"
ART="org/keycloak/keycloak-quarkus-dist/$VERSION/keycloak-quarkus-dist-$VERSION.zip"
DIST="$CACHE/dist/keycloak-$VERSION"
STAMP="$DIST/.verified-sha1"

if [[ -f "$STAMP" && -x "$DIST/bin/kc.sh" ]]; then
  echo "$DIST"; exit 0
fi
mkdir -p "$CACHE"
if [[ ! -f "$M2/$ART" || ! -f "$M2/$ART.sha1" ]]; then
  echo "==> fetching org.keycloak:keycloak-quarkus-dist:$VERSION:zip (about 160 MB)" >&2
  # -C: strict checksums (Maven fails on a mismatch instead of warning).
  mvn -B -q -C -Dmaven.repo.local="$M2" dependency:get \
    -Dartifact="org.keycloak:keycloak-quarkus-dist:$VERSION:zip" -Dtransitive=false >&2
fi
want="$(tr -d '[:space:]' < "$M2/$ART.sha1" | cut -c1-40)"
have="$(sha1sum "$M2/$ART" | cut -d' ' -f1)"
if [[ "$want" != "$have" ]]; then
  echo "keycloak-quarkus-dist-$VERSION.zip: sha1 $have, but the published .sha1 says $want; removing it" >&2
  rm -f "$M2/$ART" "$M2/$ART.sha1"
  exit 1
fi
tmp="$(mktemp -d "$CACHE/unpack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
unzip -q "$M2/$ART" -d "$tmp"
test -x "$tmp/keycloak-$VERSION/bin/kc.sh"
mkdir -p "$CACHE/dist"
rm -rf "$DIST"
mv "$tmp/keycloak-$VERSION" "$DIST"
echo "$have" > "$STAMP"
echo "$DIST"
