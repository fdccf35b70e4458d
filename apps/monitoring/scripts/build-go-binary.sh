#!/usr/bin/env bash
# Build one command of a pinned Go module into .tools/bin, only when the pinned version changed.
#
#   build-go-binary.sh MODULE VERSION PACKAGE BINARY
#
# `go install MODULE/PACKAGE@VERSION` refuses modules whose go.mod carries exclude/replace
# directives (Prometheus does), so the module is downloaded and built as the main module instead.
set -euo pipefail

module=${1:?module path}
version=${2:?module version}
package=${3:?package inside the module, e.g. ./cmd/promtool}
binary=${4:?binary name}

root=$(cd "$(dirname "$0")/../../.." && pwd)
bin_dir="$root/.tools/bin"
stamp="$bin_dir/.$binary.version"

if [[ -x "$bin_dir/$binary" && -f "$stamp" && "$(cat "$stamp")" == "$module@$version" ]]; then
  exit 0
fi

echo "==> building $binary from $module@$version"
mkdir -p "$bin_dir"
module_dir=$(GOFLAGS=-mod=mod go mod download -json "$module@$version" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
# The module cache is read-only; build from it without writing into it.
(cd "$module_dir" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
  -o "$bin_dir/$binary.tmp" "$package")
mv "$bin_dir/$binary.tmp" "$bin_dir/$binary"
echo "$module@$version" > "$stamp"
"$bin_dir/$binary" --version 2>&1 | head -1 || true
