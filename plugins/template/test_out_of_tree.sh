#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The plugin author's path, end to end minus the daemon: install jobd into a
# temporary DESTDIR, build the template as an out-of-tree plugin with the
# one cc line from docs/plugin-guide.md using only the installed header and
# jobd.pc, and load it with the test host (real dlopen, ABI check, calls).
#
# Environment (set by plugins/template/meson.build):
#   MESON, BUILD_ROOT   meson and the build directory to install
#   PKGCONFIG_DIR       the absolute pkgconfig dir for the configured prefix
#   TEMPLATE_SRC        plugins/template/template.c
#   TEST_HOST           the test-template program
set -eu

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$MESON" install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$tmp/root" \
	>"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }

PKG_CONFIG_PATH="$tmp/root$PKGCONFIG_DIR"
PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

for h in plugin.h error.h; do
	[ -f "$tmp/root$(pkg-config --variable=includedir jobd | sed "s|^$tmp/root||")/jobd/$h" ] ||
		{ echo "jobd/$h not installed under jobd.pc's includedir"; exit 1; }
done

cp "$TEMPLATE_SRC" "$tmp/myplugin.c"
# shellcheck disable=SC2046 # word splitting of pkg-config output is wanted
cc -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror \
	-o "$tmp/myplugin.so" "$tmp/myplugin.c" $(pkg-config --cflags --libs jobd)

exports=$(nm -D --defined-only "$tmp/myplugin.so" | awk '$2 == "T" { print $3 }')
if [ "$exports" != "jobd_plugin_entry" ]; then
	echo "exported functions: $exports (want only jobd_plugin_entry)"
	exit 1
fi

# The bundled plugins are installed where jobd.pc says plugins go.
plugindir=$(pkg-config --variable=plugindir jobd)
case "$plugindir" in "$tmp/root"*) ;; *) plugindir="$tmp/root$plugindir" ;; esac
for p in template nbody kmeans beam; do
	[ -f "$plugindir/$p.so" ] || { echo "missing $plugindir/$p.so"; exit 1; }
done

JOBD_PLUGIN="$tmp/myplugin.so" "$TEST_HOST"
