# SPDX-License-Identifier: MIT
"""Column statistics and a least-squares line fit with NumPy.

A jobd plugin written in Python (docs/python-plugins.md). The input is a
table of numbers as JSON (rows of equal length); the output holds each
column's mean, standard deviation, minimum, maximum and median, and, when
"fit" names two columns, the least-squares line y = slope * x + intercept
through them.

Input:  {"rows": [[1, 2.1], [2, 3.9], [3, 6.2]], "fit": [0, 1]}
Output: {"n": 3, "columns": 2, "mean": [...], "std": [...], "min": [...],
         "max": [...], "median": [...],
         "fit": {"slope": 2.05, "intercept": 0.0, "r2": 0.99}}

NumPy values go back as JSON: the Python host turns NumPy scalars and
arrays into numbers and lists (tolist()). Binary arrays (protocol version
2) do not reach worker processes yet; job.arrays is empty until they do.
"""
import numpy as np

__version__ = "1.0.0"
RETRY_SAFE = True

MAX_CELLS = 10_000_000


def process(input, job):
    if not isinstance(input, dict) or not isinstance(input.get("rows"), list):
        raise ValueError("input: want {\"rows\": [[numbers], ...]}")
    rows = input["rows"]
    if not rows or not all(isinstance(r, list) for r in rows):
        raise ValueError("rows: want a non-empty list of rows")
    width = len(rows[0])
    if width == 0 or any(len(r) != width for r in rows):
        raise ValueError("rows: every row must have the same, non-zero "
                         "length")
    if len(rows) * width > MAX_CELLS:
        raise ValueError("rows: at most %d numbers" % MAX_CELLS)
    a = np.asarray(rows, dtype=np.float64)  # refuses non-numbers
    if not np.all(np.isfinite(a)):
        raise ValueError("rows: numbers must be finite")
    out = {
        "n": a.shape[0],
        "columns": width,
        "mean": a.mean(axis=0),
        "std": a.std(axis=0),
        "min": a.min(axis=0),
        "max": a.max(axis=0),
        "median": np.median(a, axis=0),
    }
    if "fit" in input:
        fit = input["fit"]
        if (not isinstance(fit, list) or len(fit) != 2 or
                not all(isinstance(c, int) and 0 <= c < width for c in fit)):
            raise ValueError("fit: want two column indexes below %d" % width)
        if a.shape[0] < 2:
            raise ValueError("fit: needs at least two rows")
        x, y = a[:, fit[0]], a[:, fit[1]]
        design = np.column_stack([x, np.ones_like(x)])
        (slope, intercept), *_ = np.linalg.lstsq(design, y, rcond=None)
        resid = y - (slope * x + intercept)
        ss_tot = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot else 1.0
        out["fit"] = {"slope": slope, "intercept": intercept, "r2": r2}
    return out
