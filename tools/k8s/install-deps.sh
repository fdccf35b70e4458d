#!/usr/bin/env bash
# Installs the Debian packages the one-node cluster runs on, when missing: containerd, runc, the CNI
# plugins, iptables and conntrack (kube-proxy), buildah and mmdebstrap (images), gcc's static libc
# (the pause binary). Idempotent; `apt-get update` runs only when something is missing.
set -euo pipefail

declare -A need=(
  [containerd]=containerd [runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins
  [iptables]=iptables [conntrack]=conntrack [nsenter]=util-linux [ip]=iproute2
  [buildah]=buildah [mmdebstrap]=mmdebstrap [gcc]=gcc [/usr/lib/x86_64-linux-gnu/libc.a]=libc6-dev
)
missing=()
for probe in "${!need[@]}"; do
  if [[ $probe == /* ]]; then [[ -e $probe ]] || missing+=("${need[$probe]}")
  else command -v "$probe" >/dev/null || missing+=("${need[$probe]}"); fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "k8s: missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
