# SPDX-License-Identifier: MIT
"""Ctrl-C while a call runs: noted, not raised mid-read.

A KeyboardInterrupt raised in the middle of reading a frame would leave the
connection's byte stream in an unknown state. While a call waits, SIGINT
only sets a flag; the waiting loop (which wakes up often) sees it, asks the
server to cancel the call, and then raises KeyboardInterrupt itself.
"""

import signal
import threading


class DeferredInterrupt:
    """Context manager; ``pending`` becomes True on Ctrl-C inside it.

    Only in the main thread and only when SIGINT has Python's default
    handler (a program or notebook with its own handler keeps it: then a
    KeyboardInterrupt may come at any point, and the caller copes).
    """

    def __init__(self):
        self.pending = False
        self._old = None

    def _handler(self, signum, frame):
        self.pending = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                old = signal.getsignal(signal.SIGINT)
            except (ValueError, AttributeError):
                old = None
            if old is signal.default_int_handler:
                signal.signal(signal.SIGINT, self._handler)
                self._old = old
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
        return False
