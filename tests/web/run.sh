#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the web page's browser test (page.test.js) in Debian's Chromium.
#
#   JOBD_WEB_URL=http://127.0.0.1:7880 JOBD_WEB_TOKEN=... tests/web/run.sh
#       against a running jobd (its HTTP listener, the sleep plugin loaded,
#       and a user's token, or JOBD_WEB_TOKEN= when it has no auth section);
#   tests/web/run.sh --standin
#       against standin.py, the fake server for working on the page.
#
# JOBD_WEB_SHOTS=DIR keeps a laptop and a phone screenshot. Installs what is
# missing first (Debian, as root): chromium, node and npm, and
# playwright-core into tests/web/node_modules from package-lock.json.
set -eu
cd "$(dirname "$0")"

install_debian() {
	if [ "$(id -u)" != 0 ]; then
		echo "run.sh: missing $*; run as root to install" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v chromium >/dev/null || install_debian chromium
# Some machines have node and npm from one other package; ask for Debian's
# only when either is missing.
command -v node >/dev/null && command -v npm >/dev/null ||
	install_debian nodejs npm
[ -f node_modules/playwright-core/package.json ] ||
	npm ci --no-audit --no-fund --loglevel=error

standin_pid=
cleanup() { [ -z "$standin_pid" ] || kill "$standin_pid" 2>/dev/null || :; }
trap cleanup EXIT INT TERM

if [ "${1:-}" = --standin ]; then
	log=$(mktemp)
	JOBD_WEB_TOKEN=${JOBD_WEB_TOKEN-standin-token}
	python3 standin.py --token "$JOBD_WEB_TOKEN" >"$log" 2>&1 &
	standin_pid=$!
	i=0
	while ! grep -q '^listening on ' "$log"; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			cat "$log" >&2
			exit 1
		fi
		sleep 0.1
	done
	JOBD_WEB_URL=$(sed -n 's/^listening on //p' "$log")
	rm -f "$log"
fi
: "${JOBD_WEB_URL:?set JOBD_WEB_URL to the daemon's HTTP address, or pass --standin}"
export JOBD_WEB_URL JOBD_WEB_TOKEN="${JOBD_WEB_TOKEN-}"
node --test --test-concurrency=1 page.test.js
