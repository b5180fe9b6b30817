#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The plugin author's path, end to end: install jobd into a temporary
# DESTDIR, build the template as an out-of-tree plugin with the one cc line
# from docs/plugin-guide.md using only the installed header and jobd.pc,
# load it with the test host (real dlopen, ABI check, calls), then drop it
# into the plugin directory of the installed jobd while it runs, reload
# with SIGHUP, and call it over TCP.
#
# Environment (set by plugins/template/meson.build):
#   MESON, BUILD_ROOT   meson and the build directory to install
#   PKGCONFIG_DIR       the absolute pkgconfig dir for the configured prefix
#   TEMPLATE_SRC        plugins/template/template.c
#   TEST_HOST           the test-template program
set -eu

tmp=$(mktemp -d)
jobd_pid=
cleanup() {
	[ -n "$jobd_pid" ] && kill "$jobd_pid" 2>/dev/null && wait "$jobd_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT

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

# --- into a running daemon ---------------------------------------------------
jobd=$(find "$tmp/root" -type f -name jobd -perm -u+x | head -n 1)
[ -x "$jobd" ] || { echo "installed jobd not found"; exit 1; }
mkdir "$tmp/plugins"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/jobd.yaml" <<EOF
listen: ["127.0.0.1:$port"]
plugin_dirs: ["$tmp/plugins"]
state_dir: "$tmp/state"
plugins:
  template:
    workers: 1
    options: {greeting: "good morning"}
EOF
"$jobd" --config "$tmp/jobd.yaml" 2>"$tmp/jobd.log" &
jobd_pid=$!

# call PLUGIN INPUT: one call over the wire protocol, prints the answer.
call() {
	python3 - "$port" "$1" "$2" <<'PY'
import json, socket, struct, sys, time
port, plugin, text = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        break
    except OSError:
        time.sleep(0.05)
body = json.dumps({"type": "call", "id": 1, "plugin": plugin,
                   "input": json.loads(text)}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
while True:
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    m = json.loads(s.recv(n, socket.MSG_WAITALL))
    if m["type"] != "progress":
        print(json.dumps(m))
        break
PY
}

answer=$(call template '{"name": "Ada"}')
case "$answer" in *unknown_plugin*) ;; *) echo "before install: $answer"; exit 1 ;; esac

cp "$tmp/myplugin.so" "$tmp/plugins/template.so"
kill -HUP "$jobd_pid"
for _ in $(seq 100); do
	grep -q "reloaded" "$tmp/jobd.log" && break
	sleep 0.05
done
answer=$(call template '{"name": "Ada"}')
case "$answer" in
*'good morning, Ada'*) ;;
*) echo "after reload: $answer"; cat "$tmp/jobd.log"; exit 1 ;;
esac
kill "$jobd_pid"
wait "$jobd_pid" || { echo "jobd exited $?"; cat "$tmp/jobd.log"; exit 1; }
jobd_pid=
echo "out-of-tree plugin installed, reloaded and called"
