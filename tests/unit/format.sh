#!/bin/sh
# SPDX-License-Identifier: MIT
# The C sources follow the committed .clang-format (STYLE.md, habit 12).
# Usage: format.sh SOURCE_ROOT
set -eu
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format is not installed"; exit 1; }
# One clang-format process for every file: starting one per file made
# the test take half a minute on a busy machine.
bad=$(find include src plugins tests bench -name '*.[ch]' -print0 | sort -z |
	xargs -0 clang-format --dry-run 2>&1 |
	sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: .*clang-format-violations.*/\1/p' |
	sort -u)
if [ -n "$bad" ]; then
	echo "not formatted with clang-format (run clang-format -i on them):"
	echo "$bad"
	exit 1
fi
echo "all sources formatted"
