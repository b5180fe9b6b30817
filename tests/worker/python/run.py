# SPDX-License-Identifier: MIT
"""Runs the Python host's tests for `meson test --suite worker`.
Exit status 77 (skipped) when pytest is not installed."""
import os
import sys

try:
    import pytest
except ImportError:
    print("pytest is not installed (Debian: python3-pytest); skipped")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.exit(pytest.main(["-q", "-rs", "-p", "no:cacheprovider", here] +
                     sys.argv[1:]))
