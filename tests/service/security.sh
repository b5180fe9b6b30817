#!/bin/sh
# The sandbox of jobd.service: the exposure that
# `systemd-analyze security --offline=yes` reports must be <= MAX.
# Usage: security.sh UNIT_FILE MAX [DROP_IN]
# With DROP_IN, its settings are appended to a copy of the unit (what
# systemd does with jobd.service.d/*.conf) and checked as well.
set -eu
unit=$1
max=$2
dropin=${3:-}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "FAIL: systemd-analyze not found (install systemd; .ci/run does)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$unit" "$tmp/jobd.service"
if [ -n "$dropin" ]; then
	cat "$dropin" >>"$tmp/jobd.service"
fi
cd "$tmp"
out=$(systemd-analyze security --offline=yes --no-pager jobd.service 2>&1) || {
	printf 'FAIL: systemd-analyze security:\n%s\n' "$out" >&2
	exit 1
}
level=$(printf '%s\n' "$out" |
	sed -n 's/.*Overall exposure level for jobd\.service: \([0-9][0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
	printf 'FAIL: no "Overall exposure level" line in:\n%s\n' "$out" >&2
	exit 1
fi
printf '%s\n' "$out" | grep '✗' || true
if awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
	echo "ok: exposure $level <= $max"
else
	echo "FAIL: exposure $level > $max" >&2
	exit 1
fi
