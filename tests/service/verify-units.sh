#!/bin/sh
# systemd-analyze verify on the configured units. ExecStart must name an
# existing binary, so a copy points it at the built jobd; Documentation=
# must resolve, so man(1) finds jobd.8 through MANPATH.
# Usage: verify-units.sh JOBD_BIN UNIT_BUILD_DIR MAN_PAGE
set -eu
bin=$1
units=$2
manpage=$3
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "FAIL: systemd-analyze not found (install systemd; .ci/run does)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$bin|" "$units/jobd.service" >"$tmp/jobd.service"
cp "$units/jobd.socket" "$tmp/jobd.socket"
mkdir -p "$tmp/man/man8"
cp "$manpage" "$tmp/man/man8/"
grep -q "^ExecStart=$bin --config " "$tmp/jobd.service" || {
	echo "FAIL: unexpected ExecStart in $units/jobd.service" >&2
	exit 1
}
cd "$tmp"
out=$(MANPATH="$tmp/man" systemd-analyze verify jobd.service jobd.socket 2>&1) || {
	printf 'FAIL: systemd-analyze verify:\n%s\n' "$out" >&2
	exit 1
}
# verify exits 0 on some warnings; any line about our units is a problem.
if printf '%s\n' "$out" | grep -q 'jobd\.\(service\|socket\)'; then
	printf 'FAIL: systemd-analyze verify:\n%s\n' "$out" >&2
	exit 1
fi
echo "ok: both units pass systemd-analyze verify"
