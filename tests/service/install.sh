#!/bin/sh
# `meson install --destdir` lays out every file a packaged jobd needs.
# --no-rebuild: the test runs inside `meson test`, whose ninja must not
# race a second one.
# Environment (from meson): BUILD_ROOT, and the absolute install paths
# PREFIX BINDIR SBINDIR LIBDIR SYSCONFDIR INCLUDEDIR MANDIR UNITDIR PLUGINDIR
# WORKER (the jobd-worker executable),
# PLUGINS (bundled plugin names), HAVE_JOBCTL, HAVE_CLIENT (true/false).
set -eu
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
D=$tmp/root

check_file() {
	if [ -f "$D$1" ]; then
		echo "ok: $1"
	else
		echo "FAIL: missing $1" >&2
		fail=1
	fi
}
check_exec() {
	if [ -f "$D$1" ] && [ -x "$D$1" ]; then
		echo "ok: $1 (executable)"
	else
		echo "FAIL: missing or not executable: $1" >&2
		fail=1
	fi
}

meson install --no-rebuild --destdir "$D" -C "$BUILD_ROOT" >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log" >&2
	echo "FAIL: meson install" >&2
	exit 1
}

check_exec "$SBINDIR/jobd"
check_exec "$WORKER"
if [ "$HAVE_JOBCTL" = true ]; then
	check_exec "$BINDIR/jobctl"
fi
for p in $PLUGINS; do
	check_file "$PLUGINDIR/$p.so"
done
check_file "$SYSCONFDIR/jobd/jobd.yaml"
if [ -d "$D$SYSCONFDIR/jobd/plugins" ] &&
	[ -z "$(ls -A "$D$SYSCONFDIR/jobd/plugins")" ]; then
	echo "ok: $SYSCONFDIR/jobd/plugins/ (empty)"
else
	echo "FAIL: $SYSCONFDIR/jobd/plugins/ missing or not empty" >&2
	fail=1
fi
check_file "$UNITDIR/jobd.service"
check_file "$UNITDIR/jobd.socket"
check_file "$INCLUDEDIR/jobd/plugin.h"
check_file "$INCLUDEDIR/jobd/error.h"
check_file "$LIBDIR/pkgconfig/jobd.pc"
if [ "$HAVE_CLIENT" = true ]; then
	check_file "$INCLUDEDIR/jobd/client.h"
	check_file "$LIBDIR/pkgconfig/jobd-client.pc"
	check_file "$LIBDIR/libjobd-client.so"
fi
check_file "$MANDIR/man8/jobd.8"
if [ -f "$BUILD_ROOT/src/jobctl/jobctl" ] || [ "$HAVE_JOBCTL" = true ]; then
	check_file "$MANDIR/man1/jobctl.1"
fi

# The unit starts the installed daemon with the installed config.
if grep -qx "ExecStart=$SBINDIR/jobd --config $SYSCONFDIR/jobd/jobd.yaml" \
	"$D$UNITDIR/jobd.service"; then
	echo "ok: ExecStart names $SBINDIR/jobd"
else
	echo "FAIL: ExecStart in the installed jobd.service:" >&2
	grep '^ExecStart=' "$D$UNITDIR/jobd.service" >&2 || true
	fail=1
fi

# The installed config loads plugins from both directories, and is valid.
conf=$D$SYSCONFDIR/jobd/jobd.yaml
for dir in "$PLUGINDIR" "$SYSCONFDIR/jobd/plugins"; do
	if grep -q -- "- $dir\$" "$conf"; then
		echo "ok: plugin_dirs has $dir"
	else
		echo "FAIL: plugin_dirs in jobd.yaml lacks $dir" >&2
		fail=1
	fi
done
if "$D$SBINDIR/jobd" --check-config --config "$conf" >"$tmp/check.log" 2>&1; then
	echo "ok: the installed jobd accepts the installed config"
else
	cat "$tmp/check.log" >&2
	echo "FAIL: jobd --check-config on the installed config" >&2
	fail=1
fi

# A second install keeps a config the administrator edited.
echo "# edited by the administrator" >>"$conf"
meson install --no-rebuild --destdir "$D" -C "$BUILD_ROOT" >"$tmp/install2.log" 2>&1 || {
	cat "$tmp/install2.log" >&2
	echo "FAIL: second meson install" >&2
	exit 1
}
if grep -q "edited by the administrator" "$conf"; then
	echo "ok: a second install keeps the edited jobd.yaml"
else
	echo "FAIL: a second install overwrote the edited jobd.yaml" >&2
	fail=1
fi
exit $fail
