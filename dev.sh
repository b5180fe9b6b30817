#!/bin/sh
# jobd's one entry point for people and CI:
#   ./dev.sh run    install what is missing, build, run jobd in the foreground
#   ./dev.sh test   install what is missing, build (plain, ASan+UBSan,
#                   TSan), run the whole test suite in each and the daemon
#                   under valgrind, build the Debian packages and boot them
#                   in a Debian 12 container (once), print "N passed, N failed"
# Debian 12, as root (apt-get). Build dirs: build/, build-asan/, build-tsan/.
set -eu
cd "$(dirname "$0")"

# What building and running jobd needs.
PACKAGES="build-essential meson ninja-build pkg-config python3 \
libevent-dev libjansson-dev libyaml-dev libsystemd-dev check libsqlite3-dev \
libssl-dev libpq-dev clang-format python3-dev"
# What the whole test suite needs besides: sanitizers and valgrind, the
# Python client's and the plugins' references, the Debian packages and their
# container, a real PostgreSQL and HAProxy, a real browser, Prometheus'
# metrics checker and the benchmark's load generator.
TEST_PACKAGES="openssl clang libclang-rt-14-dev valgrind systemd prometheus \
python3-pytest python3-numpy python3-sklearn python3-jsonschema \
dpkg-dev debhelper lintian debootstrap systemd-container util-linux procps \
dh-python python3-all python3-setuptools pybuild-plugin-pyproject \
postgresql haproxy chromium nodejs wrk"

need_packages() { # package...
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	# npm: Debian's package, unless the installed Node.js brings its own
	# (a Node.js from elsewhere conflicts with Debian's npm package).
	case " $* " in *" nodejs "*)
		command -v npm >/dev/null 2>&1 || missing="$missing npm" ;;
	esac
	[ -z "$missing" ] && return 0
	echo "dev.sh: installing:$missing" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "dev.sh: run as root to install packages" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

setup() { # dir [meson options...]
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@"
	fi
	ninja -C "$dir"
}

cmd=${1:-}
case "$cmd" in
run)
	need_packages $PACKAGES
	setup build
	echo "dev.sh: starting jobd on 127.0.0.1:7878 (Ctrl-C stops it)" >&2
	echo "dev.sh: in another terminal: build/src/jobctl/jobctl call echo '{\"hello\": \"world\"}'" >&2
	exec build/src/daemon/jobd --config build/conf/jobd-dev.yaml
	;;
test)
	need_packages $PACKAGES $TEST_PACKAGES
	setup build
	setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	setup build-tsan -Db_sanitize=thread -Db_lundef=false
	status=0
	# 1. Everything, plain build (the fuzzers run here: they carry their
	#    own sanitizers), and the Debian packages booted under systemd in
	#    a container (suite 'system', tests/system/debian.sh), once.
	meson test -C build --print-errorlogs || status=1
	# 2. Everything under AddressSanitizer + UBSan, leaks included; the
	#    system test builds its own packages, so not again here.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C build-asan --no-suite system --print-errorlogs ||
		status=1
	# 3. The daemon and its clients under ThreadSanitizer.
	TSAN_OPTIONS=halt_on_error=0 \
		meson test -C build-tsan --suite integration --print-errorlogs ||
		status=1
	# 4. The daemon under valgrind memcheck (the harness wraps jobd when
	#    JOBD_TEST_VALGRIND is set): no errors, nothing definitely lost.
	JOBD_TEST_VALGRIND=1 CK_TIMEOUT_MULTIPLIER=5 \
		meson test -C build --no-rebuild -t 4 --logbase testlog-valgrind \
		--print-errorlogs daemon errors lifecycle hostile soak || status=1
	python3 .ci/totals.py build/meson-logs/testlog.json \
		build-asan/meson-logs/testlog.json \
		build-tsan/meson-logs/testlog.json \
		build/meson-logs/testlog-valgrind.json
	exit $status
	;;
*)
	echo "usage: $0 run|test" >&2
	exit 2
	;;
esac
