#!/bin/sh
# Builds the libFuzzer harnesses with clang (ASan+UBSan) and runs each for a
# bounded time. The normal build uses gcc, so the harnesses are compiled
# here, straight from the sources, into their own directory.
#
#   tests/fuzz/run.sh [-o DIR] [SECONDS] [HARNESS...]
#
# SECONDS: per harness (default 60); HARNESS: frame, message, array,
# config, users, hello, wmsg, http_route
# (default all). DIR (default $JOBD_FUZZ_DIR or /tmp/jobd-fuzz-$UID) holds
# the binaries, the corpus each run grows (kept between runs) and crash
# artifacts. The committed corpus (tests/fuzz/corpus/NAME) and regression
# inputs (tests/fuzz/regressions/NAME) are read, never written.
# Exits non-zero on the first harness that finds a crash, leak or timeout;
# the failing input is in DIR/artifacts/. To keep it as a regression test:
#   cp DIR/artifacts/NAME-crash-* tests/fuzz/regressions/NAME/
# A long run: tests/fuzz/run.sh 3600        (an hour per harness)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${JOBD_FUZZ_DIR:-${TMPDIR:-/tmp}/jobd-fuzz-$(id -u)}
if [ "${1:-}" = "-o" ]; then
	out=$2
	shift 2
fi
secs=${1:-60}
[ $# -gt 0 ] && shift
harnesses=${*:-frame message array config users hello wmsg http_route}
cc=${CLANG:-clang}

sources() { # harness -> its sources besides fuzz_NAME.c
	case "$1" in
	frame) echo "$top/src/wire/frame.c $top/src/wire/array.c" ;;
	message) echo "$top/src/wire/frame.c $top/src/wire/array.c $top/src/wire/message.c" ;;
	array) echo "$top/src/wire/frame.c $top/src/wire/array.c $top/src/wire/message.c" ;;
	config)
		echo "$top/src/daemon/config/access.c" \
			"$top/src/daemon/config/config.c" \
			"$top/src/daemon/config/reader.c" \
			"$top/src/daemon/config/store_section.c" \
			"$top/src/daemon/config/units.c" \
			"$top/src/daemon/config/yaml_json.c $top/src/wire/frame.c" \
			"$top/src/wire/array.c $top/src/auth/trusted.c"
		;;
	users) echo "$top/src/auth/users.c $top/src/auth/token.c $top/src/auth/trusted.c" ;;
	hello)
		echo "$top/src/wire/frame.c $top/src/wire/array.c" \
			"$top/src/wire/message.c $top/src/auth/users.c $top/src/auth/token.c" \
			"$top/src/auth/trusted.c"
		;;
	wmsg)
		echo "$top/src/wire/frame.c $top/src/wire/array.c" \
			"$top/src/wire/message.c $top/src/ipc/wmsg.c $top/src/ipc/wchan.c"
		;;
	http_route)
		echo "$top/src/daemon/net/http_route.c" \
			"$top/src/daemon/config/access.c" \
			"$top/src/daemon/config/config.c" \
			"$top/src/daemon/config/reader.c" \
			"$top/src/daemon/config/store_section.c" \
			"$top/src/daemon/config/units.c" \
			"$top/src/daemon/config/yaml_json.c" \
			"$top/src/wire/frame.c $top/src/wire/array.c" \
			"$top/src/wire/message.c $top/src/auth/trusted.c"
		;;
	*)
		echo "run.sh: unknown harness $1 (frame, message, array, config, users, hello, wmsg, http_route)" >&2
		exit 2
		;;
	esac
}

maxlen() {
	case "$1" in
	message | array | wmsg) echo 16384 ;;
	hello) echo 70000 ;;
	*) echo 4096 ;;
	esac
}

mkdir -p "$out/artifacts"
libs=$(pkg-config --cflags --libs jansson yaml-0.1 libcrypto)
for h in $harnesses; do
	srcs="$here/fuzz_$h.c $(sources "$h")"
	bin="$out/fuzz-$h"
	stale=no
	if [ ! -x "$bin" ]; then
		stale=yes
	else
		for f in $srcs "$here/fuzz.h" "$top/src/wire/frame.h" \
			"$top/src/wire/array.h" "$top/src/wire/message.h" \
			"$top/src/daemon/config/"*.h \
			"$top/src/auth/users.h" "$top/src/auth/token.h" \
			"$top/src/ipc/wmsg.h" "$top/src/ipc/wchan.h" \
			"$top/src/daemon/net/http_route.h"; do
			[ "$f" -nt "$bin" ] && stale=yes
		done
	fi
	if [ $stale = yes ]; then
		echo "run.sh: building $bin" >&2
		# shellcheck disable=SC2086
		$cc -std=gnu11 -g -O1 -D_GNU_SOURCE \
			-fsanitize=fuzzer,address,undefined \
			-fno-sanitize-recover=all \
			-I"$top/src" -I"$top/include" -I"$here" \
			-o "$bin.tmp" $srcs $libs
		mv "$bin.tmp" "$bin"
	fi
	mkdir -p "$out/corpus-$h"
	dict=""
	[ -f "$here/$h.dict" ] && dict="-dict=$here/$h.dict"
	echo "run.sh: fuzzing $h for ${secs}s" >&2
	# The first corpus directory receives new inputs; the committed ones
	# after it are only read.
	# shellcheck disable=SC2086
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len="$(maxlen "$h")" -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$h-" $dict \
		"$out/corpus-$h" "$here/corpus/$h" "$here/regressions/$h" ||
		{
			echo "run.sh: $h FAILED; the input is in $out/artifacts/" >&2
			ls -l "$out/artifacts/" >&2
			exit 1
		}
done
