# SPDX-License-Identifier: MIT
"""The Python side of jobd-worker's Python host (src/worker/pyhost.c).

pyhost.c embeds this file and runs it once, in the worker's one interpreter,
before it loads a plugin. It loads the plugin module, reads its descriptor,
and calls init() and process(); values cross to C as JSON text. Every
function here returns its failure as text instead of raising, so that the C
side never has to pick apart a Python exception. docs/python-plugins.md is
the plugin author's page.
"""
import faulthandler
import inspect
import json
import os
import sys
import traceback
import types

import _jobd  # the host services, from pyhost.c

# The worker's stdout is /dev/null; stderr is the daemon's log stream.
# A plugin's print() goes to the log rather than nowhere.
sys.stdout = sys.stderr
# A C extension that crashes the worker: the Python stack that called it
# goes to the log first. faulthandler then restores the default action and
# raises the signal again, so the worker still dies by it (plugin_crashed,
# with the signal's name).
faulthandler.enable(file=sys.stderr, all_threads=True)
# Embedded, the interpreter has no executable of its own; multiprocessing
# and joblib (scikit-learn's n_jobs) start python processes from it.
if not sys.executable:
    _exe = os.path.join(sys.base_prefix, "bin",
                        "python%d.%d" % sys.version_info[:2])
    if os.access(_exe, os.X_OK):
        sys.executable = _exe


class LoadError(Exception):
    """A plugin refused at load: the text names the file and line."""


class Job:
    """What process() gets as `job`: the running job's services. Each job
    has its own: one kept past its job (by a thread) refuses to act on the
    next one."""

    __slots__ = ("_n",)

    def __init__(self, n):
        self._n = n

    def progress(self, fraction, message=None):
        """Reports progress, 0.0 to 1.0 (clamped), with an optional message.
        Sent at most every 100 ms; calling it often costs little."""
        _jobd.progress(self._n, float(fraction),
                       None if message is None else str(message))

    def cancelled(self):
        """True once the client cancelled, the deadline passed, or jobd is
        stopping. After it returned True the job ends cancelled (or
        timeout) whatever process() returns: return or raise at once."""
        return _jobd.cancelled(self._n)

    def log(self, message, level="info"):
        """Writes a line to jobd's log (error, warning, notice, info or
        debug)."""
        _jobd.log(_LEVELS.get(level, 6), str(message))

    @property
    def id(self):
        """A detached job's id, or None for a call."""
        return _jobd.job_id(self._n)

    @property
    def arrays(self):
        """The job's input arrays by name. Empty: binary arrays do not reach
        worker processes yet (docs/python-plugins.md)."""
        return {}


_LEVELS = {"error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
_plugin = None  # the plugin's module, once loaded
_has_init = False
_state = None  # what init() returned
_HOST = Job.progress.__code__.co_filename  # this file, as compiled


def _last_line(exc):
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _where(exc, path):
    """FILE:LINE of the exception: the syntax error's own place, else the
    innermost frame in the plugin's file, else the innermost frame."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return "%s:%s" % (exc.filename, exc.lineno or 0)
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename == path]
    f = (mine or frames or [None])[-1]
    return "%s:%d" % (f.filename, f.lineno) if f else path


def _failure(exc):
    """(message, traceback) for a failed call of the plugin's code. The
    traceback starts in the plugin: the host's own frames are left out."""
    frames = exc.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename == _HOST:
        frames = frames.tb_next
    tb = "".join(traceback.format_exception(type(exc), exc, frames))
    return "%s: %s" % (_where(exc, _plugin.__file__), _last_line(exc)), tb


def _first_line(doc):
    for line in (doc or "").splitlines():
        if line.strip():
            return line.strip()
    return None


def _check_arity(fn, n, what, path):
    try:
        inspect.signature(fn).bind(*([None] * n))
    except TypeError:
        code = getattr(fn, "__code__", None)
        raise LoadError("%s:%d: %s" % (path, getattr(code, "co_firstlineno",
                                                     0), what)) from None
    except ValueError:
        pass  # no signature to check (a builtin): let the call decide


def load(path, source, name):
    """Runs the plugin's file as module `name`. Returns (version,
    description, retry_safe) or raises LoadError naming file and line."""
    global _plugin, _has_init
    mod = types.ModuleType(name)
    mod.__file__ = path
    try:
        code = compile(source, path, "exec", dont_inherit=True)
        # Registered so that pickle and dataclasses find it, unless the
        # name is taken (a plugin called json must not replace json).
        if name not in sys.modules:
            sys.modules[name] = mod
        exec(code, mod.__dict__)
    except BaseException as exc:
        if sys.modules.get(name) is mod:
            del sys.modules[name]
        raise LoadError("%s: %s" % (_where(exc, path),
                                    _last_line(exc))) from None
    process = getattr(mod, "process", None)
    init = getattr(mod, "init", None)
    if not callable(process):
        raise LoadError("%s: no function process(input, job)" % path)
    if init is not None and not callable(init):
        raise LoadError("%s: init is not a function" % path)
    if init is not None:
        _check_arity(init, 1, "init(options) must take one argument", path)
        _check_arity(process, 3, "process(input, job, state) must take "
                     "three arguments when init() is defined", path)
    else:
        _check_arity(process, 2, "process(input, job) must take two "
                     "arguments", path)
    version = getattr(mod, "__version__", None)
    _plugin, _has_init = mod, init is not None
    return (None if version is None else str(version),
            _first_line(mod.__doc__),
            getattr(mod, "RETRY_SAFE", False) is True)


def init(options_text):
    """Calls init(options). Returns None, or (message, traceback)."""
    global _state
    if not _has_init:
        return None
    try:
        _state = _plugin.init(json.loads(options_text))
    except BaseException as exc:
        return _failure(exc)
    return None


def _default(value):
    # NumPy scalars and arrays, torch tensors: their plain Python values.
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError("Object of type %s is not JSON serializable"
                    % type(value).__name__)


def run(n, input_text):
    """Calls process() for job number n. Returns (True, output JSON text,
    None) or (False, message, traceback)."""
    job = Job(n)
    try:
        value = json.loads(input_text)
        if _has_init:
            out = _plugin.process(value, job, _state)
        else:
            out = _plugin.process(value, job)
    except BaseException as exc:
        msg, tb = _failure(exc)
        return False, msg, tb
    try:
        return True, json.dumps(out, default=_default, allow_nan=False,
                                separators=(",", ":")), None
    except (TypeError, ValueError, RecursionError) as exc:
        return False, "process() returned a value that is not JSON: %s" % (
            _last_line(exc)), None
