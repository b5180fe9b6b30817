#!/usr/bin/env python3
"""Prints the totals of meson test logs as one line: 'N passed, N failed'.

Skipped tests count as neither; every other non-OK result is a failure."""
import json
import sys

passed = failed = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for line in f:
                result = json.loads(line).get("result")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result != "SKIP":
                    failed += 1
    except OSError as e:
        print(f"totals: {path}: {e.strerror}", file=sys.stderr)
        failed += 1
print(f"{passed} passed, {failed} failed")
