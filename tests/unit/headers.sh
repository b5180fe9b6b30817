#!/bin/sh
# SPDX-License-Identifier: MIT
# Each public header compiles on its own, as strict C99 and as C++, so that
# plugin and client authors can use any compiler mode.
# Usage: headers.sh INCLUDE_DIR HEADER...   (CC and CXX may be set)
set -eu
inc=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cflags=$(pkg-config --cflags jansson)
for h in "$@"; do
	printf '#include <jobd/%s>\nint main(void) { return 0; }\n' "$h" >"$tmp/t.c"
	# shellcheck disable=SC2086 # word splitting of cflags is wanted
	${CC:-cc} -std=c99 -pedantic -Wall -Wextra -Werror -I"$inc" $cflags \
		-c "$tmp/t.c" -o "$tmp/t.o" || { echo "$h: not C99-clean"; exit 1; }
	cp "$tmp/t.c" "$tmp/t.cc"
	# shellcheck disable=SC2086
	${CXX:-c++} -std=c++11 -pedantic -Wall -Wextra -Werror -I"$inc" $cflags \
		-c "$tmp/t.cc" -o "$tmp/t.o" || { echo "$h: not C++-clean"; exit 1; }
	echo "$h: ok"
done
