# SPDX-License-Identifier: MIT
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wkpy  # noqa: E402


@pytest.fixture
def workers():
    """Workers started by a test, killed and reaped after it."""
    started = []

    def start(plugin, options=None, with_fd=False):
        w = wkpy.start(plugin, options, with_fd)
        started.append(w)
        return w

    def raw(stderr=None):
        w = wkpy.Worker(stderr)
        started.append(w)
        return w

    start.raw = raw
    yield start
    for w in started:
        w.kill()
