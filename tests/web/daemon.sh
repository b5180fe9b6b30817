#!/bin/sh
# SPDX-License-Identifier: MIT
# Starts the real jobd with an HTTP listener on an ephemeral loopback port,
# runs the browser test (run.sh) against it, and stops it.
#
#   tests/web/daemon.sh JOBD PLUGIN_DIR
#
# JOBD_WEB_SHOTS=DIR keeps the screenshots (the README's comes from here).
set -eu
jobd=$1
plugins=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	fi
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir "$dir/state"
cat >"$dir/jobd.yaml" <<CONF
listen: "127.0.0.1:0"
plugin_dirs: ['$plugins']
state_dir: '$dir/state'
http:
  listen: ["127.0.0.1:0"]
  web_dir: '$here/../../web'
plugins:
  echo: {workers: 1}
  sleep: {workers: 4, queue_bound: 16}
CONF
"$jobd" --config "$dir/jobd.yaml" >"$dir/log" 2>&1 &
pid=$!
i=0
until port=$(sed -n 's/.*ready on .*http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/log") &&
	[ -n "$port" ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		cat "$dir/log" >&2
		exit 1
	fi
	sleep 0.05
done
status=0
JOBD_WEB_URL=http://127.0.0.1:$port JOBD_WEB_TOKEN= "$here/run.sh" || status=$?
# jobd must stop cleanly too (a sanitizer's report makes its status non-zero).
kill "$pid"
jobd_status=0
wait "$pid" || jobd_status=$?
pid=
if [ "$jobd_status" != 0 ]; then
	echo "daemon.sh: jobd exited with $jobd_status" >&2
	tail -50 "$dir/log" >&2
	exit 1
fi
exit "$status"
