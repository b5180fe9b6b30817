#!/bin/sh
# SPDX-License-Identifier: MIT
# The C sources follow the committed .clang-format (STYLE.md, habit 12).
# Usage: format.sh SOURCE_ROOT
set -eu
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format is not installed"; exit 1; }
bad=$(find include src plugins tests bench -name '*.[ch]' -print |
	sort | while read -r f; do
		if clang-format --dry-run "$f" 2>&1 | grep -q .; then
			echo "$f"
		fi
	done)
if [ -n "$bad" ]; then
	echo "not formatted with clang-format (run clang-format -i on them):"
	echo "$bad"
	exit 1
fi
echo "all sources formatted"
