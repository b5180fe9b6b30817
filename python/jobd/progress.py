# SPDX-License-Identifier: MIT
"""Progress display for Job.wait(progress=True) and call(progress=True).

tqdm when it is installed (``tqdm.auto``: a widget in Jupyter, text in a
terminal), else a plain one-line bar on standard error.
"""

import sys
import time


class Plain:
    """A one-line bar redrawn with a carriage return, at most 10 times a
    second; works in a terminal and in a notebook's output area."""

    WIDTH = 30

    def __init__(self, desc, stream=None):
        self._desc = desc
        self._stream = stream or sys.stderr
        self._start = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, fraction, message=None):
        now = time.monotonic()
        if now - self._last < 0.1 and fraction < 1.0:
            return
        self._last = now
        self._draw(fraction, message, now)

    def _draw(self, fraction, message, now):
        fraction = min(max(fraction, 0.0), 1.0)
        fill = int(round(fraction * self.WIDTH))
        secs = int(now - self._start)
        line = "\r%s [%s%s] %3d%% %02d:%02d" % (
            self._desc,
            "#" * fill,
            " " * (self.WIDTH - fill),
            int(fraction * 100),
            secs // 60,
            secs % 60,
        )
        if message:
            line += " " + message[:40]
        try:
            self._stream.write(line.ljust(len(line) + 2))
            self._stream.flush()
        except (OSError, ValueError):
            return
        self._shown = True

    def close(self):
        if self._shown:
            try:
                self._stream.write("\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass
            self._shown = False


class Tqdm:
    """The same interface over a tqdm bar (0..1000 steps)."""

    STEPS = 1000

    def __init__(self, desc, tqdm_cls):
        self._bar = tqdm_cls(
            total=self.STEPS,
            desc=desc,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
            leave=True,
        )
        self._n = 0

    def __call__(self, fraction, message=None):
        n = int(min(max(fraction, 0.0), 1.0) * self.STEPS)
        if n > self._n:
            self._bar.update(n - self._n)
            self._n = n
        if message:
            self._bar.set_postfix_str(message[:40], refresh=False)

    def close(self):
        self._bar.close()


class Callback:
    """A user's function(fraction, message), with nothing to close."""

    def __init__(self, fn):
        self._fn = fn

    def __call__(self, fraction, message=None):
        self._fn(fraction, message)

    def close(self):
        pass


def _tqdm_class():
    try:
        from tqdm.auto import tqdm
    except Exception:  # not installed, or a broken install: use ours
        return None
    return tqdm


def make(progress, desc):
    """What to feed progress reports to: None for progress=None/False, a
    bar for True, the function itself for a callable."""
    if progress is None or progress is False:
        return None
    if progress is True:
        cls = _tqdm_class()
        return Tqdm(desc, cls) if cls else Plain(desc)
    if callable(progress):
        return Callback(progress)
    raise TypeError("progress must be True, False, None or a function(fraction, message)")
