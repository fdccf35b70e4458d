#!/usr/bin/env bash
# Build every tool listed in tools/toolchain/go-tools.txt (or the given list files) at the version
# pinned in tools/versions.env. Tools already built at their pin are skipped in milliseconds.
#   tools/toolchain/build-go-tools.sh [LIST...] [--only NAME]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
versions=$here/../versions.env

only=""
lists=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --only) only=$2; shift 2 ;;
    *) lists+=("$1"); shift ;;
  esac
done
[[ ${#lists[@]} -gt 0 ]] || lists=("$here/go-tools.txt")

# versions.env is plain NAME=value lines, so it is valid bash.
# shellcheck disable=SC1090
source "$versions"

for list in "${lists[@]}"; do
  lineno=0
  while read -r name module package version_var ldflags || [[ -n ${name:-} ]]; do
    lineno=$((lineno + 1))
    [[ -z ${name:-} || $name == \#* ]] && continue
    [[ -n $only && $name != "$only" ]] && continue
    if [[ -z ${version_var:-} ]]; then
      echo "$list:$lineno: tool '$name' needs NAME MODULE PACKAGE VERSION_VARIABLE" >&2
      exit 2
    fi
    version=${!version_var:-}
    if [[ -z $version ]]; then
      echo "$list:$lineno: tool '$name': $version_var is not set in $versions" >&2
      exit 2
    fi
    "$here/build-go-tool.sh" "$name" "$module" "$package" "$version" "${ldflags:-}"
  done <"$list"
done
