#!/usr/bin/env bash
# Build one Go command-line tool from the Go module proxy at a pinned version into .tools/bin/.
#
#   tools/toolchain/build-go-tool.sh NAME MODULE PACKAGE VERSION [LDFLAGS]
#
#   NAME     binary name written to .tools/bin/NAME
#   MODULE   module path that holds the tool (what `go mod download` fetches)
#   PACKAGE  main package to build (MODULE itself or a sub-package such as MODULE/cmd/foo)
#   VERSION  module version, e.g. v0.8.0 (normally a NAME_VERSION line of tools/versions.env)
#   LDFLAGS  optional -ldflags; "{version}" is replaced by VERSION and "{semver}" by VERSION without
#            its leading v (for tools that take their version string from -X rather than from the
#            module build info)
#
# A stamp .tools/stamps/go-tool-NAME (holding VERSION) marks a finished build, so calling this again with the
# same pin returns at once; changing the pin rebuilds. This is the repo's only Go tool builder: to
# add a tool, add one line to a list file (tools/toolchain/go-tools.txt, or your area's own list such
# as jenkins/go-tools.txt or apps/monitoring/go-tools.txt, built by `build-go-tools.sh LIST` from
# your make fragment) and its pin to tools/versions.env.
#
# Modules whose go.mod has replace or exclude directives (Prometheus has both) cannot be built with
# `go install pkg@version`, so those are built with `go build` inside a writable copy of the
# downloaded module instead, as its own main module: excludes and version replaces apply exactly as
# upstream's build has them; local replaces that point outside the downloaded module (sibling
# modules of a monorepo) are dropped, so those resolve from the proxy at the version go.mod requires.
# The module and build caches stay in the user's Go cache (outside the repo); the only output
# in the repo is the binary and its stamp under the git-ignored .tools/.
set -euo pipefail

if [[ $# -lt 4 || $# -gt 5 ]]; then
  echo "usage: $0 NAME MODULE PACKAGE VERSION [LDFLAGS]" >&2
  exit 2
fi
name=$1 module=$2 package=$3 version=$4 ldflags=${5:-}
ldflags=${ldflags//\{version\}/$version}
ldflags=${ldflags//\{semver\}/${version#v}}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools_dir=${TOOLS_DIR:-$root/.tools}
bin_dir=$tools_dir/bin
stamp_dir=$tools_dir/stamps
stamp=$stamp_dir/go-tool-$name
mkdir -p "$bin_dir" "$stamp_dir"

up_to_date() { [[ -x $bin_dir/$name && -f $stamp && $(<"$stamp") == "$version" ]]; }
up_to_date && exit 0

# Several make runs may ask for the same tool at once: build it once, the others wait.
exec 9>"$stamp.lock"
flock 9
up_to_date && exit 0

if [[ ! $package == "$module" && ! $package == "$module"/* ]]; then
  echo "build-go-tool: package $package is not inside module $module" >&2
  exit 2
fi

# Use the machine's Go as is; a go.mod asking for a newer Go must fail, not download a toolchain.
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false" CGO_ENABLED=0
work=$(mktemp -d "${TMPDIR:-/tmp}/build-go-tool.$name.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"   # never inside the repo: no go.mod of ours gets involved

start=$(date +%s.%N)
echo "==> building $name $version ($package) with $(go env GOVERSION)"

info=$(go mod download -json "$module@$version") || {
  echo "build-go-tool: cannot download $module@$version: $info" >&2
  exit 1
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$info" "$1"; }
mod_dir=$(field Dir)
go_mod=$(field GoMod)

out=$work/out/$name
mkdir -p "$work/out"
# Which directives make `go install pkg@version` refuse this module (read by the go command itself,
# so block and single-line forms, comments and odd spacing are all understood).
directives=$(go mod edit -json "$go_mod" | python3 -c '
import json, sys
mod = json.load(sys.stdin)
print(" ".join(kind for kind in ("replace", "exclude") if mod.get(kind.capitalize())))') || {
  echo "build-go-tool: cannot read go.mod of $module@$version ($go_mod)" >&2
  exit 1
}
if [[ -n $directives ]]; then
  echo "    go.mod has ${directives// / and } directives: building inside a copy of the module"
  cp -r "$mod_dir" "$work/src"
  chmod -R u+w "$work/src"
  cd "$work/src"
  # Monorepos (etcd, kubernetes) replace sibling modules with ../paths that a module zip does not
  # contain; drop those replaces so the siblings come from the proxy at the versions go.mod requires.
  while read -r old_path new_path; do
    if [[ ! -e $new_path ]]; then
      echo "    dropping replace $old_path => $new_path (not inside the module download)"
      go mod edit -dropreplace="$old_path"
    fi
  done < <(go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if not r["New"].get("Version"):  # a local path, not another module version
        old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
        print(old, r["New"]["Path"])')
  rel=${package#"$module"}
  go build -mod=mod -trimpath -ldflags "$ldflags" -o "$out" "./${rel#/}"
  cd "$work"
else
  GOBIN=$work/gobin go install -trimpath -ldflags "$ldflags" "$package@$version"
  mv "$work"/gobin/* "$out"
fi

# Copy beside the target, then rename: a reader never sees a half-written binary.
cp "$out" "$bin_dir/.$name.new"
mv -f "$bin_dir/.$name.new" "$bin_dir/$name"
echo "$version" >"$stamp"
end=$(date +%s.%N)
awk -v n="$name" -v v="$version" -v s="$start" -v e="$end" -v b="$bin_dir/$name" \
  'BEGIN { printf "==> built %s %s in %.1fs -> %s\n", n, v, e - s, b }'

