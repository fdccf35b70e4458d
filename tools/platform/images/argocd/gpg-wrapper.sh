#!/bin/sh
# The repo-server calls gpg through this name: exit status 1 (e.g. "no such key") is an answer,
# not a failure, so it is reported as success with gpg's output; anything else is passed on.
out=$(gpg "$@" 2>&1)
status=$?
if [ "$status" -le 1 ]; then
	printf '%s\n' "$out"
	exit 0
fi
printf '%s\n' "$out" >&2
exit "$status"
