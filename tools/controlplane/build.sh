#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager, kubectl and the node's kubelet, kube-proxy
# and kube-scheduler from source at the pins in
# tools/versions.env into .tools/bin. A stamp per binary records what it was built from, so a
# binary is rebuilt only when its pin (or its module's go.sum) changes.
#
# Usage: tools/controlplane/build.sh [--force]
# Env:   TOOLS_DIR (default <repo>/.tools), GOCACHE/GOMODCACHE as usual (CI may point them at a cache).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools_dir="${TOOLS_DIR:-$root/.tools}"
bin_dir="$tools_dir/bin"
# kubectl matching the server goes off PATH: .tools/bin is first on PATH and the venv's newer
# kubectl (used by other areas for `kubectl kustomize`) must not be shadowed.
kubectl_dir="$tools_dir/controlplane/bin"
stamp_dir="$tools_dir/stamps"
timing_file="$tools_dir/controlplane-build-times.txt"
force=0
[[ "${1:-}" == "--force" ]] && force=1

# shellcheck source=/dev/null
source "$root/tools/versions.env"
: "${K8S_SERVER_VERSION:?K8S_SERVER_VERSION missing in tools/versions.env}"
: "${ETCD_VERSION:?ETCD_VERSION missing in tools/versions.env}"

mkdir -p "$bin_dir" "$kubectl_dir" "$stamp_dir"

# The committed go.mod must match the pin, otherwise the binary would silently be another version.
require_module_pin() {
  local module_dir="$1" module="$2" want="$3"
  local have
  have="$(cd "$module_dir" && go list -m -f '{{.Version}}' "$module")"
  if [[ "$have" != "$want" ]]; then
    echo "controlplane build: ${module_dir#"$root"/}/go.mod pins $module $have but tools/versions.env" \
         "says $want; run 'make controlplane-modules' and commit the result" >&2
    exit 1
  fi
}

# Stamp content: the pin plus the module's go.sum digest, so any dependency change rebuilds.
stamp_for() {
  local version="$1" module_dir="$2"
  echo "$version $(sha256sum "$module_dir/go.sum" | cut -c1-16) $(go env GOVERSION)"
}

is_current() {
  local out="$1" binary="$2" stamp="$3"
  [[ $force -eq 0 && -x "$out" && -f "$stamp_dir/controlplane-$binary" ]] \
    && [[ "$(cat "$stamp_dir/controlplane-$binary")" == "$stamp" ]]
}

# go build one main package; record wall-clock seconds so the cold/warm figures can be reported.
build_binary() {
  local out="$1" module_dir="$2" package="$3" stamp="$4"
  shift 4
  local binary
  binary="$(basename "$out")"
  if is_current "$out" "$binary" "$stamp"; then
    echo "controlplane build: $binary up to date ($stamp)"
    return
  fi
  echo "controlplane build: building $binary ($package) ..."
  local started=$SECONDS
  (cd "$module_dir" && CGO_ENABLED=0 go build -trimpath "$@" -o "$out.tmp" "$package")
  mv -f "$out.tmp" "$out"
  echo "$stamp" > "$stamp_dir/controlplane-$binary"
  local took=$((SECONDS - started))
  echo "$(date -u +%FT%TZ) $binary $took s (GOCACHE=$(go env GOCACHE))" >> "$timing_file"
  echo "controlplane build: $binary built in ${took}s"
}

kube_module="$here/modules/kubernetes"
etcd_module="$here/modules/etcd"
require_module_pin "$kube_module" k8s.io/kubernetes "$K8S_SERVER_VERSION"
require_module_pin "$etcd_module" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"

# The same version stamping and build tags as upstream's release build (hack/lib/golang.sh),
# so `kubectl version` and /version report the real release instead of v0.0.0-master.
minor="${K8S_SERVER_VERSION#v1.}"
minor="${minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$K8S_SERVER_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
kube_tags="selinux,notest,grpcnotrace"

kube_stamp="$(stamp_for "$K8S_SERVER_VERSION" "$kube_module")"
etcd_stamp="$(stamp_for "$ETCD_VERSION" "$etcd_module")"

build_binary "$bin_dir/etcd" "$etcd_module" go.etcd.io/etcd/server/v3 "$etcd_stamp" -ldflags "-s -w"
for out in "$bin_dir/kube-apiserver" "$bin_dir/kube-controller-manager" "$kubectl_dir/kubectl" \
           "$bin_dir/kube-scheduler" "$bin_dir/kube-proxy" "$bin_dir/kubelet"; do
  build_binary "$out" "$kube_module" "k8s.io/kubernetes/cmd/$(basename "$out")" "$kube_stamp" \
    -tags "$kube_tags" -ldflags "$kube_ldflags"
done
