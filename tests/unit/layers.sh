#!/bin/sh
# SPDX-License-Identifier: MIT
# The daemon's folders are layers (docs/architecture.md): a file includes
# only headers of its own layer and the layers below it. An #include that
# points up the order is refused here; the link of test-net-alone catches a
# call that does.
# Usage: layers.sh SOURCE_ROOT
set -eu
cd "$1/src/daemon"
order="util config store exec net proto core"
rank() {
	i=0
	for l in $order; do
		[ "$l" = "$1" ] && { echo "$i"; return; }
		i=$((i + 1))
	done
	echo -1
}
bad=0
for dir in */; do
	layer=${dir%/}
	own=$(rank "$layer")
	if [ "$own" -lt 0 ]; then
		echo "src/daemon/$layer: a folder that is not a layer ($order)"
		bad=1
		continue
	fi
	for f in "$layer"/*.[ch]; do
		[ -e "$f" ] || continue
		# shellcheck disable=SC2013 # one include a line
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"daemon\/\([a-z_]*\)\/.*".*/\1/p' "$f"); do
			r=$(rank "$inc")
			if [ "$r" -lt 0 ] || [ "$r" -gt "$own" ]; then
				echo "src/daemon/$f includes daemon/$inc/: $inc is not below $layer"
				bad=1
			fi
		done
		if grep -q '^[[:space:]]*#[[:space:]]*include[[:space:]]*"daemon/[^/"]*"' "$f"; then
			echo "src/daemon/$f includes a daemon header outside the layer folders"
			bad=1
		fi
	done
done
for f in *.[ch]; do
	[ -e "$f" ] || continue
	echo "src/daemon/$f: every source lives in a layer folder"
	bad=1
done
if [ "$bad" -ne 0 ]; then
	echo "order, lowest first: $order"
	exit 1
fi
echo "every include points down the layers ($order)"
