#!/usr/bin/env bash
# Build the Pod Security oracle (this folder's own Go module) into .tools/bin/psa-oracle.
#
# go.mod pins k8s.io/pod-security-admission at the staging version that matches the API server
# (K8S_SERVER_VERSION v1.M.P -> v0.M.P); the build refuses a go.mod that says otherwise. A stamp
# holds the pin, the digest of go.mod, go.sum and the sources, and the Go version, so the binary is
# rebuilt only when one of them changes (same convention as tools/controlplane/build.sh).
#
# Usage: tools/psa-oracle/build.sh [--force]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools_dir="${TOOLS_DIR:-$root/.tools}"
bin_dir="$tools_dir/bin"
stamp_dir="$tools_dir/stamps"
stamp_file="$stamp_dir/psa-oracle"
force=0
[[ "${1:-}" == "--force" ]] && force=1

# shellcheck source=/dev/null
source "$root/tools/versions.env"
: "${K8S_SERVER_VERSION:?K8S_SERVER_VERSION missing in tools/versions.env}"
want="v0.${K8S_SERVER_VERSION#v1.}"

export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false" CGO_ENABLED=0
have="$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/pod-security-admission)"
if [[ "$have" != "$want" ]]; then
  echo "psa-oracle build: tools/psa-oracle/go.mod pins k8s.io/pod-security-admission $have, but" \
       "K8S_SERVER_VERSION=$K8S_SERVER_VERSION in tools/versions.env needs $want;" \
       "run: cd tools/psa-oracle && go get k8s.io/pod-security-admission@$want k8s.io/api@$want && go mod tidy" >&2
  exit 1
fi

stamp="$want $(cat "$here/go.mod" "$here/go.sum" "$here"/*.go | sha256sum | cut -c1-16) $(go env GOVERSION)"
mkdir -p "$bin_dir" "$stamp_dir"
if [[ $force -eq 0 && -x "$bin_dir/psa-oracle" && -f "$stamp_file" && "$(<"$stamp_file")" == "$stamp" ]]; then
  exit 0
fi

exec 9>"$stamp_file.lock"
flock 9
echo "==> building psa-oracle ($want) with $(go env GOVERSION)"
started=$SECONDS
(cd "$here" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin_dir/.psa-oracle.new" .)
mv -f "$bin_dir/.psa-oracle.new" "$bin_dir/psa-oracle"
echo "$stamp" >"$stamp_file"
echo "==> built psa-oracle in $((SECONDS - started))s -> $bin_dir/psa-oracle"
