#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The Debian packages under a real systemd. Builds the .debs from the
# source tree (dpkg-buildpackage -b), checks them with lintian, makes a
# minimal Debian 12 tree once (debootstrap, cached in the build directory,
# with the packages' runtime dependencies already in it), boots it with
# systemd-nspawn -b --private-network (systemd 252 as PID 1, loopback only,
# the cached tree kept pristine by --volatile=overlay), installs the .debs
# inside without network and checks, with systemd itself, what
# docs/service.md promises: Type=notify readiness, the journal, reload
# without a failed call, the watchdog, socket activation, a plugin added by
# reload, detached jobs across a restart (DynamicUser state), the sandbox
# rating, the Python client (python3-jobd), an upgrade that keeps the
# config, remove and purge.
# cgroup resource limits (MemoryMax= and the like) do not take effect in
# these containers, so nothing here relies on them.
#
# Environment (from tests/system/meson.build):
#   SOURCE_ROOT    the source tree (with debian/)
#   BUILD_ROOT     the meson build directory; the work and the cached tree
#                  go to BUILD_ROOT/system-test
#   TEST_PLUGIN    a plugin .so that is not bundled (tests/service svcver)
#   HELD_CLIENT    held_client.py
#   MAX_EXPOSURE   the highest `systemd-analyze security` level allowed
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or no container
# can boot here).
set -eu

work=$BUILD_ROOT/system-test
tree=$work/bookworm
run=$work/run
started=$(date +%s)
fail=0
ns_pid=
leader=
lintian_pid=

ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*" >&2
	fail=1
}
skip() {
	echo "SKIP: $*"
	exit 77
}
die() {
	echo "FAIL: $*" >&2
	exit 1
}
step() { echo "== $* (at $(($(date +%s) - started)) s)"; }

# A file's tail, for the log of something that failed.
show() {
	echo "--- $1 (last ${2:-40} lines)" >&2
	tail -n "${2:-40}" "$1" >&2 || true
}

if [ "$(id -u)" != 0 ]; then
	skip "booting a container with systemd-nspawn needs root"
fi
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian \
	debootstrap:debootstrap systemd-nspawn:systemd-container \
	nsenter:util-linux python3:python3; do
	command -v "${tool%%:*}" >/dev/null 2>&1 ||
		die "${tool%%:*} not found (install ${tool#*:}; ./dev.sh does)"
done

cleanup() {
	[ -z "$lintian_pid" ] || kill "$lintian_pid" 2>/dev/null || true
	if [ -n "$ns_pid" ] && kill -0 "$ns_pid" 2>/dev/null; then
		# nspawn turns SIGTERM into an orderly shutdown of the container.
		kill -TERM "$ns_pid" 2>/dev/null || true
		i=0
		while kill -0 "$ns_pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.2
			i=$((i + 1))
		done
		kill -KILL "$ns_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

rm -rf "$run"
mkdir -p "$run/src" "$run/debs" "$run/host"

# --- 1. the packages ---------------------------------------------------------
step "building the packages"
# The files of a fresh clone plus what is changed or new but not ignored;
# without git (a tarball), the tree minus build directories.
rel_build=$(realpath --relative-to="$SOURCE_ROOT" "$BUILD_ROOT")
if git -C "$SOURCE_ROOT" ls-files >/dev/null 2>&1; then
	(cd "$SOURCE_ROOT" && git ls-files -z -c -o --exclude-standard |
		grep -zv "^$rel_build/" |
		tar --null --ignore-failed-read -T - -cf -) | tar -C "$run/src" -xf -
else
	tar -C "$SOURCE_ROOT" --exclude=./.git --exclude='./build*' \
		--exclude="./$rel_build" -cf - . | tar -C "$run/src" -xf -
fi
[ -f "$run/src/debian/control" ] || die "no debian/control in the copied tree"

# The package version follows the project's.
meson_version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$SOURCE_ROOT/meson.build" | head -n 1)
deb_version=$(cd "$run/src" && dpkg-parsechangelog -S Version)
if [ "${deb_version%%-*}" = "$meson_version" ]; then
	ok "debian/changelog is at the project version $meson_version"
else
	bad "debian/changelog says $deb_version, meson.build $meson_version: add a debian/changelog entry for $meson_version"
fi

# nocheck: this suite has run already, in the build that runs this test.
# The system's PATH: pybuild runs python3.X from PATH, and a Debian package
# is built with Debian's Python, not one a user's PATH puts first.
if ! (cd "$run/src" &&
	PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
		DEB_BUILD_OPTIONS="nocheck parallel=2" \
		dpkg-buildpackage -us -uc -b -Pnocheck) >"$run/build.log" 2>&1; then
	show "$run/build.log" 60
	die "dpkg-buildpackage"
fi
ok "dpkg-buildpackage -us -uc -b"
# Every package of debian/control is installed in the container.
own=$(cd "$run/src" && dh_listpackages | tr '\n' ' ')
for p in $own; do
	deb=$(ls "$run/${p}"_*.deb 2>/dev/null | head -n 1)
	if [ -n "$deb" ]; then
		cp "$deb" "$run/debs/"
	else
		bad "no package $p was built"
	fi
done
# New symbols of libjobd-client belong in debian/libjobd-client0.symbols.
if grep -q 'dpkg-gensymbols: warning: some new symbols appeared' "$run/build.log"; then
	grep -A30 '^--- debian/libjobd-client0.symbols' "$run/build.log" >&2 || true
	bad "libjobd-client exports symbols that debian/libjobd-client0.symbols lacks"
fi

# lintian takes a while: it runs beside the container; its verdict is
# read at the end.
lintian --fail-on error,warning --no-tag-display-limit "$run"/*.changes \
	>"$run/lintian.log" 2>&1 &
lintian_pid=$!

# --- 2. a Debian 12 tree, made once ------------------------------------------
# Everything the packages depend on (first alternatives, without versions),
# so that installing them inside needs no network, plus systemd as init and
# D-Bus for systemd-analyze.
want=$(for deb in "$run"/debs/*.deb; do
	dpkg-deb -f "$deb" Pre-Depends Depends
done | sed 's/^[A-Za-z-]*://' | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/:.*//; s/[[:space:]]//g' |
	grep -v '^$' | sort -u | grep -vxF "$(echo "$own" | tr ' ' '\n')" | tr '\n' ' ')
want=$(echo "dbus systemd systemd-sysv $want" | tr ' ' '\n' | grep -v '^$' | sort -u | tr '\n' ',' | sed 's/,$//')

# The suite's mirror from the host's apt sources (one-line or deb822).
host_mirror() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			types = uris = suites = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/) types = $i " "
				if ($i ~ /^URIs:/) uris = $i
				if ($i ~ /^Suites:/) suites = $i " "
			}
			if (types ~ /[ \t]deb[ \t]/ && suites ~ /[ \t]bookworm[ \t]/) {
				sub(/^URIs:[ \t]*/, "", uris)
				split(uris, u, /[ \t]+/)
				print u[1]
				exit
			}
		}' "$f"
	done
}

if [ -x "$tree/lib/systemd/systemd" ] && [ -f "$tree.packages" ] &&
	[ "$(cat "$tree.packages")" = "$want" ]; then
	step "Debian 12 tree: cached in $tree"
else
	step "Debian 12 tree: debootstrap (once; later runs reuse it)"
	mirror=$(host_mirror | head -n 1)
	[ -n "$mirror" ] ||
		die "no bookworm source in /etc/apt/sources.list* to debootstrap from"
	rm -rf "$tree" "$tree.new" "$tree.packages"
	if ! debootstrap --variant=minbase --include="$want" bookworm \
		"$tree.new" "$mirror" >"$work/debootstrap.log" 2>&1; then
		show "$work/debootstrap.log"
		die "debootstrap bookworm from $mirror"
	fi
	mv "$tree.new" "$tree"
	echo "$want" >"$tree.packages"
fi
ok "Debian 12 tree with: $want"

# --- 3. boot -----------------------------------------------------------------
step "booting the container"
cp "$TEST_PLUGIN" "$run/host/svcver.so"
# An upgrade: the same jobd under a higher version.
dpkg-deb -R "$run"/debs/jobd_*.deb "$run/upgrade"
sed -i 's/^Version: .*/&+1/' "$run/upgrade/DEBIAN/control"
dpkg-deb -b "$run/upgrade" "$run/host/jobd-upgrade.deb" >/dev/null
rm -rf "$run/upgrade"

# Without systemd as the host's init there is no manager to register with
# or to ask for a scope: the container stays in this process's cgroup.
ns_opts=--register=no
[ -d /run/systemd/system ] || ns_opts="$ns_opts --keep-unit"
# shellcheck disable=SC2086 # ns_opts is a list of options
systemd-nspawn -q -b --private-network $ns_opts --volatile=overlay \
	-D "$tree" -M jobd-system-test --console=read-only \
	--bind-ro="$run/debs:/debs" --bind-ro="$run/host:/mnt/host" \
	</dev/null >"$run/console.log" 2>&1 &
ns_pid=$!
i=0
while [ $i -lt 150 ]; do
	kill -0 "$ns_pid" 2>/dev/null || break
	leader=$(pgrep -P "$ns_pid" | head -n 1 || true)
	if [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ]; then
		break
	fi
	leader=
	sleep 0.2
	i=$((i + 1))
done
if [ -z "$leader" ]; then
	show "$run/console.log"
	skip "systemd-nspawn could not boot a container on this machine"
fi

# ct CMD...: run CMD inside the container, in all its namespaces.
ct() {
	nsenter -t "$leader" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= \
		DEBIAN_FRONTEND=noninteractive "$@"
}
# Until PID 1 answers and has finished booting (up to 60 s).
i=0
while [ $i -lt 300 ]; do
	state=$(ct systemctl is-system-running 2>&1 || true)
	case "$state" in running | degraded) break ;; esac
	kill -0 "$ns_pid" 2>/dev/null || break
	sleep 0.2
	i=$((i + 1))
done
case "$state" in
running) ok "systemd $(ct systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') is PID 1 and the system is running" ;;
degraded)
	ok "the container booted (degraded: $(ct systemctl --failed --no-legend --plain | tr '\n' ' '))"
	;;
*)
	show "$run/console.log"
	skip "systemd-nspawn started, but the container did not boot: $state"
	;;
esac
# PID 1 logs each notification a service sends and each state change.
ct systemd-analyze log-level debug || die "systemd-analyze log-level debug"

# show UNIT PROP: one property of a unit.
prop() { ct systemctl show -P "$2" "$1"; }
# A cursor at the journal's end: later checks read only what came after.
cursor() { ct journalctl -q -n 1 --show-cursor | sed -n 's/^-- cursor: //p'; }
# PID 1's lines about jobd.service since CURSOR.
pid1_log() {
	ct journalctl -q --no-pager -o cat _PID=1 --after-cursor="$1" |
		grep '^jobd\.service: ' || true
}
# in_order FILE STRING...: the strings appear in FILE in this order, each
# on a later line than the one before.
in_order() {
	f=$1
	shift
	awk -v pats="$(printf '%s\n' "$@")" '
		BEGIN { n = split(pats, p, "\n"); k = 1 }
		k <= n && index($0, p[k]) { k++ }
		END { exit !(k > n) }' "$f"
}
# wait_log CURSOR STRING...: up to 20 s for PID 1 to log the strings in order.
wait_log() {
	c=$1
	shift
	i=0
	while [ $i -lt 100 ]; do
		pid1_log "$c" >"$run/pid1.log"
		in_order "$run/pid1.log" "$@" && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# --- 4. install, readiness, a first job --------------------------------------
step "installing the packages (no network)"
c=$(cursor)
if ct sh -c 'apt-get install -y --no-install-recommends /debs/*.deb' \
	>"$run/install.log" 2>&1; then
	ok "apt-get install ./*.deb inside, without network"
else
	show "$run/install.log"
	die "apt-get install of the packages (a dependency newer than the cached tree's? rm -rf $tree remakes it)"
fi
for u in jobd.service jobd.socket; do
	[ "$(ct systemctl is-enabled "$u")" = enabled ] && ok "$u enabled on install" ||
		bad "$u is not enabled after install"
done
pid=$(prop jobd MainPID)
if [ "$(prop jobd Type)" = notify ] && [ "$(prop jobd ActiveState)" = active ] &&
	wait_log "$c" "Changed dead -> start" \
		"Got notification message from PID $pid (READY=1" \
		"Changed start -> running"; then
	ok "jobd.service started on install, and became active only after its READY=1"
else
	cat "$run/pid1.log" >&2
	bad "jobd.service: no start -> READY=1 -> running (Type=$(prop jobd Type), $(prop jobd ActiveState))"
fi
status=$(prop jobd StatusText)
[ -n "$status" ] && ok "STATUS= reaches systemd: $status" || bad "no StatusText"

if out=$(ct jobctl ping 2>&1); then ok "jobctl ping: $out"; else bad "jobctl ping: $out"; fi
out=$(ct jobctl call echo '{"hello": "lab"}' 2>&1 | tr -d ' \n' || true)
[ "$out" = '{"hello":"lab"}' ] && ok "jobctl call echo" || bad "jobctl call echo: $out"
# python3-jobd: Debian's python3 finds the module without a PYTHONPATH.
out=$(ct python3 -c 'import jobd; print(jobd.__file__); print(jobd.Client("127.0.0.1:7878").call("echo", {"x": 1}))' 2>&1 || true)
if [ "$out" = "/usr/lib/python3/dist-packages/jobd/__init__.py
{'x': 1}" ]; then
	ok "python3-jobd: jobd.Client(...).call(\"echo\", {\"x\": 1}) answers {'x': 1}"
else
	bad "python3-jobd: import jobd and a call: $out"
fi

# --- 5. socket activation ----------------------------------------------------
step "socket activation"
ct systemctl stop jobd.service 2>/dev/null || bad "systemctl stop jobd.service"
if [ "$(prop jobd ActiveState)" = inactive ] &&
	[ "$(prop jobd.socket ActiveState)" = active ]; then
	ok "jobd.service stopped, jobd.socket still listening"
else
	bad "after stopping jobd.service: service $(prop jobd ActiveState), socket $(prop jobd.socket ActiveState)"
fi
c=$(cursor)
if out=$(ct jobctl ping 2>&1) && [ "$(prop jobd ActiveState)" = active ] &&
	wait_log "$c" "Passing 2 fds to service" "Changed start -> running"; then
	ok "the first connection started jobd.service, which took systemd's sockets: $out"
else
	cat "$run/pid1.log" >&2
	bad "socket activation: ping said: $out; jobd is $(prop jobd ActiveState)"
fi

# --- 6. reload under a held connection ---------------------------------------
step "systemctl reload while a client calls on one connection"
mkdir "$run/held"
pid=$(prop jobd MainPID)
restarts=$(prop jobd NRestarts)
nsenter -t "$leader" -n python3 "$HELD_CLIENT" 7878 "$run/held" >"$run/held.log" 2>&1 &
held=$!
i=0
while [ ! -e "$run/held/ready" ] && kill -0 "$held" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
c=$(cursor)
ct systemctl reload jobd || bad "systemctl reload jobd"
if wait_log "$c" "Got notification message from PID $pid (RELOADING=1" \
	"Got notification message from PID $pid (READY=1"; then
	ok "systemd saw RELOADING=1, then READY=1"
else
	cat "$run/pid1.log" >&2
	bad "no RELOADING=1 then READY=1 from PID $pid after systemctl reload"
fi
touch "$run/held/reloaded"
if wait "$held"; then
	ok "held connection: $(cat "$run/held.log"), across the reload"
else
	cat "$run/held.log" >&2
	bad "a call failed on the connection held across the reload"
fi
[ "$(prop jobd MainPID)" = "$pid" ] && [ "$(prop jobd NRestarts)" = "$restarts" ] &&
	ok "the reload kept the process ($pid)" || bad "the reload restarted jobd"

# --- 7. a plugin added by reload ---------------------------------------------
step "a plugin copied into /etc/jobd/plugins"
if ct jobctl call svcver '{"ms": 0}' >/dev/null 2>&1; then
	bad "svcver answered before it was installed"
fi
ct install -m 644 /mnt/host/svcver.so /etc/jobd/plugins/svcver.so ||
	bad "copying svcver.so into /etc/jobd/plugins"
c=$(cursor)
ct systemctl reload jobd || bad "systemctl reload jobd"
wait_log "$c" "(RELOADING=1" "(READY=1" || bad "the reload did not end (READY=1)"
out=$(ct jobctl call svcver '{"ms": 0}' 2>&1 | tr -d ' \n' || true)
[ "$out" = '{"build":1}' ] && ok "svcver serves after systemctl reload" ||
	bad "svcver after reload: $out"

# --- 8. detached jobs across a restart; a warning in the journal ------------
step "detached jobs across systemctl restart"
a=$(ct jobctl submit sleep '{"ms": 100}' 2>&1) || bad "jobctl submit: $a"
ct jobctl wait "$a" >/dev/null 2>&1 || bad "jobctl wait $a"
b=$(ct jobctl submit sleep '{"ms": 3000}' 2>&1) || bad "jobctl submit: $b"
# A section for a plugin that does not exist: jobd starts, with a warning.
ct sed -i 's/^plugins:.*/plugins:\n  ghost:\n    workers: 1/' /etc/jobd/jobd.yaml ||
	bad "editing /etc/jobd/jobd.yaml"
ct jobd --check-config --config /etc/jobd/jobd.yaml >/dev/null 2>&1 ||
	bad "the edited config does not check"
pid=$(prop jobd MainPID)
c=$(cursor)
ct systemctl restart jobd || bad "systemctl restart jobd"
new=$(prop jobd MainPID)
[ "$new" != "$pid" ] && [ "$(prop jobd ActiveState)" = active ] &&
	ok "restarted: PID $pid -> $new" || bad "systemctl restart jobd"
out=$(ct jobctl result "$a" 2>&1 | tr -d ' \n' || true)
[ "$out" = '{"slept_ms":100}' ] && ok "job $a's result, stored before the restart" ||
	bad "jobctl result $a after restart: $out"
out=$(ct jobctl --timeout 30s wait "$b" 2>&1 | tr -d ' \n' || true)
[ "$out" = '{"slept_ms":3000}' ] && ok "job $b, running at the restart, finished" ||
	bad "jobctl wait $b after restart: $out"
if ct test -L /var/lib/jobd && ct test -f /var/lib/private/jobd/jobs.db; then
	ok "the job store is in /var/lib/private/jobd: $(ct ls /var/lib/private/jobd | tr '\n' ' ')"
else
	bad "no /var/lib/private/jobd (StateDirectory with DynamicUser)"
fi
# (Matched by PID: journalctl 252 drops entries when -p is combined with
# --after-cursor.)
warn=$(ct journalctl -q --no-pager -p warning..warning -o cat _PID="$new" | grep ghost || true)
[ -n "$warn" ] && ok "journalctl -p warning: $warn" ||
	bad "no warning about plugins.ghost at priority warning in the journal"

# --- 9. the watchdog ---------------------------------------------------------
wd=$(prop jobd WatchdogUSec)
step "SIGSTOP: the watchdog (WatchdogSec $wd) restarts jobd"
pid=$(prop jobd MainPID)
restarts=$(prop jobd NRestarts)
c=$(cursor)
ct sh -c "kill -STOP $pid" || bad "kill -STOP $pid"
i=0
while [ $i -lt 150 ]; do # 75 s: the 30 s of the unit, with room
	[ "$(prop jobd NRestarts)" != "$restarts" ] && [ "$(prop jobd ActiveState)" = active ] && break
	sleep 0.5
	i=$((i + 1))
done
if wait_log "$c" "Watchdog timeout" "Failed with result 'watchdog'" \
	"Changed start -> running" && [ "$(prop jobd MainPID)" != "$pid" ]; then
	ok "watchdog timeout after SIGSTOP; restarted as PID $(prop jobd MainPID) (NRestarts $(prop jobd NRestarts))"
else
	cat "$run/pid1.log" >&2
	bad "no watchdog restart after SIGSTOP"
fi
ct jobctl ping >/dev/null 2>&1 && ok "ping after the watchdog restart" ||
	bad "no ping after the watchdog restart"

# --- 10. the sandbox, as systemd applies it ----------------------------------
step "systemd-analyze security"
level=$(ct systemd-analyze security --no-pager jobd.service 2>&1 |
	sed -n 's/.*Overall exposure level for jobd\.service: \([0-9][0-9.]*\).*/\1/p')
if [ -n "$level" ] && awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
	ok "exposure $level <= $MAX_EXPOSURE"
else
	bad "exposure ${level:-unknown} > $MAX_EXPOSURE"
fi

# --- 11. upgrade, remove, purge ----------------------------------------------
step "upgrade keeps the config"
pid=$(prop jobd MainPID)
if ct apt-get install -y /mnt/host/jobd-upgrade.deb >"$run/upgrade.log" 2>&1; then
	ok "upgraded to $(ct dpkg-query -W -f '${Version}' jobd)"
else
	show "$run/upgrade.log"
	bad "apt-get install of the upgrade"
fi
ct grep -q '^  ghost:' /etc/jobd/jobd.yaml && ok "the edited /etc/jobd/jobd.yaml was kept" ||
	bad "the upgrade replaced the edited /etc/jobd/jobd.yaml"
[ "$(prop jobd ActiveState)" = active ] && [ "$(prop jobd MainPID)" != "$pid" ] &&
	ok "jobd restarted by the upgrade" || bad "jobd after the upgrade: $(prop jobd ActiveState)"

step "remove, then purge"
ct apt-get remove -y jobd >"$run/remove.log" 2>&1 || {
	show "$run/remove.log"
	bad "apt-get remove jobd"
}
[ "$(prop jobd ActiveState)" = inactive ] && ok "remove stopped jobd" || bad "jobd still running after remove"
ct test -f /etc/jobd/jobd.yaml && ok "remove kept /etc/jobd/jobd.yaml" || bad "remove deleted the config"
ct test -f /var/lib/private/jobd/jobs.db && ok "remove kept the job store" || bad "remove deleted the job store"
ct apt-get purge -y jobd >"$run/purge.log" 2>&1 || {
	show "$run/purge.log"
	bad "apt-get purge jobd"
}
left=
for f in /etc/jobd /var/lib/jobd /var/lib/private/jobd /lib/systemd/system/jobd.service \
	/lib/systemd/system/jobd.socket /etc/systemd/system/multi-user.target.wants/jobd.service \
	/etc/systemd/system/sockets.target.wants/jobd.socket /usr/sbin/jobd; do
	ct test -e "$f" -o -L "$f" && left="$left $f"
done
[ -z "$left" ] && ok "purge: no /etc/jobd, state, units or links left" || bad "purge left:$left"
[ -z "$(ct dpkg-query -W -f '${Status}' jobd 2>/dev/null)" ] || [ "$(ct dpkg-query -W -f '${db:Status-Abbrev}' jobd 2>/dev/null | tr -d ' ')" = un ] &&
	ok "dpkg has forgotten jobd" || bad "dpkg still knows jobd: $(ct dpkg-query -W -f '${Status}' jobd)"
# shellcheck disable=SC2086 # own is a list of package names
ct apt-get purge -y $own >>"$run/purge.log" 2>&1 ||
	bad "apt-get purge of the other packages"
left=$(ct find / /run /tmp -xdev -name '*jobd*' 2>/dev/null | grep -v '^/run/systemd/propagate' || true)
[ -z "$left" ] && ok "with every package purged, no file named *jobd* is left" ||
	bad "files left after purging everything: $(echo "$left" | tr '\n' ' ')"
if ct systemctl list-units --all --no-legend --plain 'jobd*' | grep -q .; then
	bad "systemd still knows units: $(ct systemctl list-units --all --no-legend --plain 'jobd*' | tr '\n' ' ')"
else
	ok "systemd knows no jobd unit any more"
fi

step "lintian"
if wait "$lintian_pid"; then
	ok "lintian: no errors, no warnings"
else
	cat "$run/lintian.log" >&2
	bad "lintian"
fi
lintian_pid=
grep '^[EWI]:' "$run/lintian.log" || true

step "done"
exit $fail
