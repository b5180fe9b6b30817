#!/bin/sh
# Checks that a shared library exports exactly the functions its public
# header declares (with the given prefix), and nothing else: the wire
# library linked inside it and every helper must stay hidden.
# usage: check-exports.sh LIB.so HEADER PREFIX
set -eu
lib=$1 header=$2 prefix=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols, without the version-node names (type A).
nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' \
	| sort -u >"$tmp/exported"
grep -o "${prefix}[a-z0-9_]*(" "$header" | tr -d '(' | sort -u >"$tmp/declared"

status=0
if grep -v -E "^(${prefix}|jobd_)" "$tmp/exported" >"$tmp/stray"; then
	echo "FAIL: $lib exports symbols outside ${prefix}* / jobd_*:"
	cat "$tmp/stray"
	status=1
fi
if ! cmp -s "$tmp/exported" "$tmp/declared"; then
	echo "FAIL: exported (<) and declared in $header (>) differ:"
	diff "$tmp/exported" "$tmp/declared" || true
	status=1
fi
[ $status -eq 0 ] && echo "ok: $(wc -l <"$tmp/exported") symbols, all declared in $(basename "$header")"
exit $status
