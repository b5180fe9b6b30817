#!/bin/sh
# SPDX-License-Identifier: MIT
# A throw-away PostgreSQL cluster for the tests: initdb in a temporary
# directory, a Unix socket there and no TCP at all, trust for local
# connections (only this directory's owner and root can reach the socket).
#
#   pg-cluster.sh run CMD [ARGS...]   start a cluster, run CMD with
#                                     JOBD_TEST_PG* set, stop and remove it;
#                                     exits with CMD's status
#   pg-cluster.sh restart DIR         restart the cluster in DIR (a test
#                                     calls this: $JOBD_TEST_PG_RESTART)
#   pg-cluster.sh stop DIR | start DIR   ($JOBD_TEST_PG_CTL stop
#                                     $JOBD_TEST_PGHOST, from a test)
#
# initdb refuses to run as root, so as root the server runs as "nobody"
# in a directory that user owns. Exits 77 (skipped) if the PostgreSQL
# server binaries are missing.
set -eu

find_bindir() {
	for d in "${PG_BINDIR:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null |
		sort -rV); do
		[ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] &&
			{ echo "$d"; return 0; }
	done
	command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 &&
		{ dirname "$(command -v initdb)"; return 0; }
	return 1
}

if ! BIN=$(find_bindir); then
	echo "pg-cluster.sh: PostgreSQL server binaries (initdb, pg_ctl) not" \
		"found: install postgresql (dev.sh does); skipping" >&2
	exit 77
fi

# Runs a server command as the cluster's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			--reset-env -- "$@"
	else
		"$@"
	fi
}

pg_start() { # dir
	as_owner "$BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
		-o "-k $1 -c listen_addresses= -p 5432" start >/dev/null
}

pg_stop() { # dir [mode]
	as_owner "$BIN/pg_ctl" -D "$1/data" -m "${2:-fast}" -w -t 60 stop \
		>/dev/null
}

case "${1:-}" in
start) pg_start "$2" ;;
stop) pg_stop "$2" "${3:-fast}" ;;
restart)
	# immediate: like a crash, the server does not wait for clients
	pg_stop "$2" immediate
	pg_start "$2"
	;;
run)
	shift
	self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
	dir=$(mktemp -d /tmp/jobd-pg-XXXXXX)
	chmod 0700 "$dir"
	[ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir"
	cleanup() {
		pg_stop "$dir" immediate 2>/dev/null || true
		rm -rf "$dir"
	}
	trap cleanup EXIT INT TERM
	if ! as_owner "$BIN/initdb" -D "$dir/data" -U jobd -A trust \
		-E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		exit 1
	fi
	if ! pg_start "$dir"; then
		cat "$dir/server.log" >&2
		exit 1
	fi
	export JOBD_TEST_PGHOST="$dir" JOBD_TEST_PGPORT=5432 \
		JOBD_TEST_PGUSER=jobd JOBD_TEST_PGBIN="$BIN" \
		JOBD_TEST_PG_RESTART="$self restart $dir" JOBD_TEST_PG_CTL="$self"
	set +e
	"$@"
	rc=$?
	set -e
	exit $rc
	;;
*)
	echo "usage: pg-cluster.sh run CMD... | restart DIR | start DIR |" \
		"stop DIR" >&2
	exit 2
	;;
esac
