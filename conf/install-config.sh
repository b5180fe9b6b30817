#!/bin/sh
# Installs the default config without overwriting one a person has edited.
# Usage (from meson.add_install_script): install-config.sh SRC DIR NAME
# DIR may be relative to the prefix (meson's default sysconfdir "etc").
set -eu
src=$1
dir=$2
name=$3
case "$dir" in
/*) dest="${DESTDIR:-}$dir" ;;
*) dest="${MESON_INSTALL_DESTDIR_PREFIX:?}/$dir" ;;
esac
mkdir -p "$dest"
if [ -e "$dest/$name" ]; then
	echo "Keeping existing $dest/$name"
else
	install -m 644 "$src" "$dest/$name"
	echo "Installing $dest/$name"
fi
