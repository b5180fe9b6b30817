# SPDX-License-Identifier: MIT
"""The Client: a server list with failover, one connection at a time, and
the calls people make from a notebook (call, submit, job, map, jobs).

Behaviour follows jobctl and libjobd-client: servers are tried in order,
and when one cannot be reached or drops the connection before answering, the
next one gets the request (a call goes to each server at most once). A
Client is for one thread at a time; use one per thread.
"""

import math
import os
import random
import time
from collections import deque
from heapq import heappop, heappush

from . import arrays as arrays_mod
from . import progress as progress_mod
from . import servers as servers_mod
from .connection import Connection, Unreachable, tls_context
from .errors import (
    BusyError,
    ConnectError,
    ConnectionLost,
    JobdError,
    JobTimeout,
    ProtocolError,
    from_message,
)
from .interrupt import DeferredInterrupt
from .job import Job

__all__ = ["Client"]

#: The largest id the protocol allows (2^53 - 1).
ID_MAX = (1 << 53) - 1
#: How long a call waits past its deadline for the server's own `timeout`
#: answer (which says for sure that the job was stopped).
DEADLINE_GRACE = 0.5
#: After Ctrl-C, how long to wait for the server to confirm the cancel.
CANCEL_WAIT = 2.0
#: How often a waiting loop wakes up to look at Ctrl-C and deadlines.
WAKE = 0.2
#: `retry=True` means this many retries, as jobctl's bare --retry.
DEFAULT_RETRIES = 5
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0

_UNSET = object()


def backoff(attempt, retry_after):
    """Seconds to wait before retry number attempt+1 after `busy`: the
    server's hint, but at least an exponential backoff (100 ms doubling up
    to 5 s), plus up to 25 % jitter so that clients refused together do not
    return together. The same rule as jobctl --retry."""
    b = min(BACKOFF_FIRST * (2 ** min(attempt, 16)), BACKOFF_MAX)
    if retry_after is not None and retry_after > b:
        b = retry_after
    return b + random.uniform(0, b / 4)


def _retries(retry):
    if retry is None or retry is False:
        return 0
    if retry is True:
        return DEFAULT_RETRIES
    if isinstance(retry, int) and retry >= 0:
        return retry
    raise ValueError("retry must be True, False or a number of retries >= 0")


def _seconds(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError("%s must be a number of seconds > 0, or None" % name)
    return float(value)


def _strip(msg):
    """A server message without its envelope (type, id)."""
    return {k: v for k, v in msg.items() if k not in ("type", "id")}


class Client:
    """A connection to a jobd server, or to the first working one of a list.

    ``servers``: ``"host:port,host2:port"`` (or a list of entries); an entry
    ``tls://host:port`` is reached over TLS. Default: ``$JOBD_SERVER``, else
    ``127.0.0.1:7878``.
    ``token``: sent in ``hello``; default ``$JOBD_TOKEN``, or the first line
    of ``token_file``.
    ``ca``: PEM file of the CA that signed the servers' TLS certificates;
    default ``$JOBD_CA``, else the system's CAs. Servers' names are always
    verified.
    ``timeout``: default deadline of a call in seconds (None: none), sent
    to the server, which stops the job when it passes.
    ``retry``: on ``busy``, retry this many times (True: 5), waiting at
    least the server's ``retry_after``.
    ``connect_timeout``: per server, for connecting and the handshake.
    ``request_timeout``: for quick requests (status, jobs, ping, stats).
    """

    def __init__(
        self,
        servers=None,
        token=None,
        ca=None,
        timeout=None,
        retry=0,
        connect_timeout=5.0,
        request_timeout=10.0,
        token_file=None,
        name=None,
    ):
        self._servers = servers_mod.from_env(servers)
        if token is None and token_file is not None:
            token = _read_token(token_file)
        if token is None:
            token = os.environ.get(servers_mod.ENV_TOKEN) or None
        if token is not None and not isinstance(token, str):
            raise TypeError("token must be a string")
        self._token = token
        self._ca = ca if ca is not None else os.environ.get(servers_mod.ENV_CA) or None
        self._ssl = None
        self.timeout = _seconds("timeout", timeout)
        self.retry = _retries(retry)
        self.connect_timeout = _seconds("connect_timeout", connect_timeout)
        self.request_timeout = _seconds("request_timeout", request_timeout)
        self.name = name or "jobd-python"
        self._conn = None
        self._cur = 0
        self._next_id = 1
        self._tracked = set()  # ids whose answers are wanted
        self._abandoned = set()  # ids given up on: answers dropped
        self._inbox = {}  # id -> deque of messages that arrived for it

    def __repr__(self):
        # Never the token.
        return "Client(%r)" % ",".join(s.display for s in self._servers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def servers(self):
        """The server list, as parsed."""
        return list(self._servers)

    @property
    def server(self):
        """The server connected to now (``host:port``), or None."""
        return self._conn.server.display if self._conn else None

    @property
    def server_version(self):
        """What the connected server calls itself (``jobd 0.1.0``), or None."""
        return self._conn.server_name if self._conn else None

    def close(self):
        """Closes the connection; calls still running on it are cancelled
        by the server, detached jobs go on. The Client can be used again."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._tracked.clear()
        self._abandoned.clear()
        self._inbox.clear()

    # --- connection and failover ---------------------------------------

    def _ssl_context(self):
        if self._ssl is None:
            self._ssl = tls_context(self._ca)
        return self._ssl

    def _ensure(self, deadline):
        if self._conn is not None:
            # A server closes idle connections (idle_timeout, drain): find
            # that out now, before a request is sent into the void and
            # counted as a failure of this server.
            try:
                while True:
                    msgs = self._conn.receive(0.0)
                    if not msgs:
                        break
                    self._dispatch(msgs)
            except (ConnectionLost, ProtocolError):
                self._lost()
            else:
                if not self._conn.closing:
                    return self._conn
                self._lost()
        trail = []
        n = len(self._servers)
        for k in range(n):
            i = (self._cur + k) % n
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            sub = now + self.connect_timeout
            if deadline is not None:
                sub = min(sub, deadline)
            server = self._servers[i]
            ctx = self._ssl_context() if server.tls else None
            try:
                conn = Connection.open(server, sub, self.name, self._token, ctx)
            except Unreachable as e:
                trail.append("%s (%s)" % (server.display, e))
                continue
            self._conn = conn
            self._cur = i
            return conn
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeout(
                "timed out connecting: %s" % (", ".join(trail) or "no server tried")
            )
        raise ConnectError("cannot reach a server: %s" % ", ".join(trail))

    def _lost(self):
        """The connection broke: forget it and everything in flight on it."""
        had = bool(self._tracked)
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._tracked.clear()
        self._abandoned.clear()
        # A server that dropped calls is tried last next time.
        if had:
            self._cur = (self._cur + 1) % len(self._servers)

    def _dispatch(self, msgs):
        for msg in msgs:
            mid = msg.get("id")
            if not isinstance(mid, int):
                continue  # about the connection; Connection noted it
            final = msg["type"] != "progress"
            if mid in self._abandoned:
                if final:
                    self._abandoned.discard(mid)
                continue
            if mid not in self._tracked:
                continue  # a stray id: not ours
            self._inbox.setdefault(mid, deque()).append(msg)
            if final:
                self._tracked.discard(mid)

    def _pump(self, timeout):
        if self._conn is None:
            raise ConnectionLost("connection lost")
        try:
            msgs = self._conn.receive(timeout)
        except (ConnectionLost, ProtocolError):
            self._lost()
            raise
        self._dispatch(msgs)

    def _alloc_id(self):
        while True:
            mid = self._next_id
            self._next_id = 1 if mid >= ID_MAX else mid + 1
            if mid not in self._tracked and mid not in self._inbox and mid not in self._abandoned:
                return mid

    def _start(self, msg, deadline):
        """Sends msg with a fresh id, connecting first if need be; a
        connection that breaks while sending (the request never reached
        that server whole) moves it to the next server. Returns the id."""
        for _ in range(len(self._servers)):
            conn = self._ensure(deadline)
            mid = self._alloc_id()
            msg["id"] = mid
            self._tracked.add(mid)
            try:
                conn.send(msg, deadline)
                return mid
            except ConnectionLost:
                self._lost()
            except BaseException:
                self._tracked.discard(mid)
                raise
        raise ConnectionLost("connection lost while sending, on every server")

    def _take(self, mid, on_progress):
        """The final answer to mid if it has arrived, else None; progress
        that arrived before it goes to on_progress."""
        q = self._inbox.get(mid)
        while q:
            msg = q.popleft()
            if msg["type"] == "progress":
                if on_progress is not None:
                    fraction = msg.get("fraction")
                    if isinstance(fraction, (int, float)):
                        text = msg.get("message")
                        on_progress(fraction, text if isinstance(text, str) else None)
                continue
            del self._inbox[mid]
            return msg
        if q is not None:
            del self._inbox[mid]
        return None

    def _wait(self, mid, deadline, on_progress=None, interrupt=None):
        """The final answer to mid, or None once deadline has passed.
        Raises KeyboardInterrupt when interrupt.pending, ConnectionLost."""
        while True:
            msg = self._take(mid, on_progress)
            if msg is not None:
                return msg
            if interrupt is not None and interrupt.pending:
                raise KeyboardInterrupt
            if mid not in self._tracked:
                raise ConnectionLost("connection lost before the answer")
            wake = WAKE
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wake = min(wake, left)
            self._pump(wake)

    def _abandon(self, mid, cancel):
        """Gives up on mid: its answers are dropped; with cancel, the
        server is asked to stop the call."""
        self._inbox.pop(mid, None)
        if mid not in self._tracked:
            return  # its final answer has come and gone
        self._tracked.discard(mid)
        self._abandoned.add(mid)
        if cancel and self._conn is not None:
            try:
                self._conn.send({"type": "cancel", "id": mid}, time.monotonic() + 1.0)
            except JobdError:
                self._lost()

    def _request(self, kind, fields=None, timeout=None):
        """A quick request (not a call): its answer, or the error raised.
        Repeated on the next server when the connection breaks."""
        timeout = self.request_timeout if timeout is None else _seconds("timeout", timeout)
        deadline = time.monotonic() + timeout
        losses = 0
        while True:
            msg = dict(fields or ())
            msg["type"] = kind
            mid = self._start(msg, deadline)
            try:
                ans = self._wait(mid, deadline)
            except ConnectionLost:
                losses += 1
                if losses >= len(self._servers):
                    raise
                continue
            if ans is None:
                self._abandon(mid, cancel=False)
                raise JobTimeout("no answer to %s within %g s" % (kind, timeout))
            if ans["type"] == "error":
                raise from_message(ans)
            return ans

    # --- calls -----------------------------------------------------------

    def _deadline(self, timeout):
        timeout = self.timeout if timeout is _UNSET else _seconds("timeout", timeout)
        return timeout, (None if timeout is None else time.monotonic() + timeout)

    @staticmethod
    def _call_msg(plugin, input, deadline, detach=False):
        if not isinstance(plugin, str):
            raise TypeError("plugin must be a string")
        msg = {"type": "call", "plugin": plugin, "input": input}
        if deadline is not None:
            left = deadline - time.monotonic()
            msg["timeout_ms"] = max(1, int(math.ceil(left * 1000)))
        if detach:
            msg["detach"] = True
        return msg

    def call(self, plugin, input=None, arrays=None, timeout=_UNSET, retry=None, progress=None):
        """Runs plugin on input and returns its output.

        ``timeout`` (seconds; default the Client's) bounds the whole call,
        queue time included; the server stops the job when it passes
        (JobTimeout). ``retry`` overrides the Client's busy retries.
        ``progress``: True for a progress bar, or a function(fraction,
        message). Ctrl-C asks the server to cancel the call, then raises
        KeyboardInterrupt. Errors are raised as JobdError subclasses.
        """
        arrays_mod.check_supported(arrays, None)
        timeout, deadline = self._deadline(timeout)
        retries = self.retry if retry is None else _retries(retry)
        bar = progress_mod.make(progress, plugin)
        try:
            ans = self._call_retrying(plugin, input, deadline, timeout, retries, bar, False)
            if bar is not None:
                bar(1.0, None)  # plugins need not report the end
        finally:
            if bar is not None:
                bar.close()
        return ans.get("output")

    def submit(self, plugin, input=None, arrays=None, timeout=None, retry=None):
        """Starts plugin on input as a detached job and returns its Job once
        the server has stored it. The job runs on whether or not this
        process stays; ``timeout`` (seconds) is the job's deadline on the
        server."""
        arrays_mod.check_supported(arrays, None)
        timeout = _seconds("timeout", timeout)
        retries = self.retry if retry is None else _retries(retry)
        ans = self._call_retrying(plugin, input, None, timeout, retries, None, True)
        job = ans.get("job")
        if ans["type"] != "accepted" or not isinstance(job, str):
            raise ProtocolError("answer to a detached call is not 'accepted'")
        return Job(self, job, plugin)

    def _call_retrying(self, plugin, input, deadline, timeout, retries, bar, detach):
        attempt = 0
        losses = 0
        while True:
            if detach:
                msg = self._call_msg(plugin, input, None, True)
                if timeout is not None:
                    msg["timeout_ms"] = max(1, int(math.ceil(timeout * 1000)))
                wait_until = time.monotonic() + self.request_timeout
            else:
                msg = self._call_msg(plugin, input, deadline)
                wait_until = None if deadline is None else deadline + DEADLINE_GRACE
            try:
                ans = self._call_once(msg, deadline, wait_until, timeout, bar)
            except ConnectionLost:
                # A detached call may have been stored before the loss:
                # sending it again could run it twice.
                losses += 1
                if detach or losses >= len(self._servers):
                    raise
                continue
            if ans["type"] != "error":
                return ans
            err = from_message(ans)
            if isinstance(err, BusyError) and attempt < retries:
                wait = backoff(attempt, err.retry_after)
                if deadline is not None and time.monotonic() + wait >= deadline:
                    raise err
                time.sleep(wait)
                attempt += 1
                continue
            raise err

    def _call_once(self, msg, deadline, wait_until, timeout, bar):
        with DeferredInterrupt() as intr:
            mid = self._start(msg, deadline)
            try:
                ans = self._wait(mid, wait_until, bar, intr)
            except KeyboardInterrupt:
                self._interrupted(mid, deferred=intr.pending)
                raise
        if ans is None:
            self._abandon(mid, cancel=True)
            if deadline is None:
                raise JobTimeout("no answer to the call within %g s" % self.request_timeout)
            raise JobTimeout("no answer within %g s (call cancelled)" % timeout)
        return ans

    def _interrupted(self, mid, deferred):
        """Ctrl-C during call mid: ask the server to cancel it."""
        if self._conn is None or mid not in self._tracked:
            return
        try:
            self._conn.send({"type": "cancel", "id": mid}, time.monotonic() + 1.0)
        except JobdError:
            self._lost()
            return
        if not deferred:
            # Raised at an unknown point, maybe in the middle of a read:
            # the stream cannot be trusted any more.
            self._lost()
            return
        try:
            ans = self._wait(mid, time.monotonic() + CANCEL_WAIT)
        except JobdError:
            return
        if ans is None:
            self._abandon(mid, cancel=False)

    def job(self, job_id):
        """The Job with this id (from submit(), here or in another process,
        today or next week), to follow, fetch or cancel."""
        if not isinstance(job_id, str) or not 1 <= len(job_id) <= 64:
            raise ValueError("a job id is a string of 1 to 64 characters")
        return Job(self, job_id)

    def _attach(self, job_id, timeout, bar):
        """Follows a job to its end; returns its result message."""
        timeout = _seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        losses = 0
        while True:
            with DeferredInterrupt() as intr:
                mid = self._start({"type": "attach", "job": job_id}, deadline)
                try:
                    ans = self._wait(mid, deadline, bar, intr)
                except ConnectionLost:
                    # The job is in the server's store: follow it again,
                    # on the next server if this one is gone.
                    losses += 1
                    if losses >= len(self._servers):
                        raise
                    continue
                except KeyboardInterrupt:
                    self._abandon(mid, cancel=False)  # the job runs on
                    raise
            if ans is None:
                self._abandon(mid, cancel=False)
                raise JobTimeout(
                    "job %s did not finish within %g s (it is still running)"
                    % (job_id, timeout),
                    job=job_id,
                )
            if ans["type"] == "error":
                raise from_message(ans)
            if ans["type"] != "result":
                raise ProtocolError("unexpected %r answer to attach" % ans["type"])
            return ans

    def map(self, plugin, inputs, timeout=_UNSET, retry=None, window=64, return_exceptions=False):
        """Runs plugin on every input, pipelined on one connection, and
        yields ``(index, output)`` pairs in the order the calls finish.

        At most ``window`` calls are in flight at once (keep it at or below
        the server's max_inflight_per_connection, 256 by default). An error
        is raised (with ``.index`` set) and the calls still in flight are
        cancelled, unless ``return_exceptions`` is true: then it is yielded
        as ``(index, error)``. ``timeout`` is per call; ``busy`` answers
        are retried as in call(). Inputs are read lazily.
        """
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError("window must be an integer >= 1")
        timeout = self.timeout if timeout is _UNSET else _seconds("timeout", timeout)
        retries = self.retry if retry is None else _retries(retry)
        return self._map(plugin, enumerate(inputs), timeout, retries, window, return_exceptions)

    def _map(self, plugin, inputs, timeout, retries, window, return_exceptions):
        later = []  # heap: (due, seq, index, input, attempt)
        seq = 0
        inflight = {}  # id -> (index, input, attempt, deadline)
        exhausted = False
        losses = 0

        def requeue_all():
            nonlocal seq
            now = time.monotonic()
            for index, value, attempt, _ in inflight.values():
                heappush(later, (now, seq, index, value, attempt))
                seq += 1
            inflight.clear()

        def failed(index, err):
            err.index = index
            if return_exceptions:
                return (index, err)
            raise err

        try:
            while True:
                now = time.monotonic()
                while len(inflight) < window:
                    if later and later[0][0] <= now:
                        _, _, index, value, attempt = heappop(later)
                    elif not exhausted:
                        try:
                            index, value = next(inputs)
                        except StopIteration:
                            exhausted = True
                            continue
                        attempt = 0
                    else:
                        break
                    deadline = None if timeout is None else time.monotonic() + timeout
                    msg = self._call_msg(plugin, value, deadline)
                    try:
                        mid = self._start(msg, None)
                    except ConnectionLost:
                        losses += 1
                        heappush(later, (now, seq, index, value, attempt))
                        seq += 1
                        requeue_all()
                        if losses >= len(self._servers):
                            raise
                        continue
                    until = None if deadline is None else deadline + DEADLINE_GRACE
                    inflight[mid] = (index, value, attempt, until)
                if not inflight:
                    if later:
                        time.sleep(max(0.0, later[0][0] - time.monotonic()))
                        continue
                    return
                done = [m for m in self._inbox if m in inflight]
                for mid in done:
                    ans = self._take(mid, None)
                    if ans is None:
                        continue
                    index, value, attempt, _ = inflight.pop(mid)
                    if ans["type"] == "result":
                        yield (index, ans.get("output"))
                        continue
                    err = from_message(ans) if ans["type"] == "error" else ProtocolError(
                        "unexpected %r answer to a call" % ans["type"]
                    )
                    if isinstance(err, BusyError) and attempt < retries:
                        due = time.monotonic() + backoff(attempt, err.retry_after)
                        heappush(later, (due, seq, index, value, attempt + 1))
                        seq += 1
                        continue
                    yield failed(index, err)
                if done:
                    continue
                # Calls whose connection broke while the caller had control
                # (a call() between two yields, say) will never be answered.
                gone = [m for m in inflight if m not in self._tracked]
                if gone:
                    losses += 1
                    now = time.monotonic()
                    for mid in gone:
                        index, value, attempt, _ = inflight.pop(mid)
                        heappush(later, (now, seq, index, value, attempt))
                        seq += 1
                    if losses >= len(self._servers):
                        raise ConnectionLost("connection lost during map, on every server")
                    continue
                now = time.monotonic()
                for mid, (index, value, attempt, until) in list(inflight.items()):
                    if until is not None and now >= until:
                        del inflight[mid]
                        self._abandon(mid, cancel=True)
                        yield failed(index, JobTimeout(
                            "no answer within %g s (call cancelled)" % timeout))
                wake = WAKE
                if later:
                    wake = min(wake, max(0.0, later[0][0] - now))
                try:
                    self._pump(wake)
                except (ConnectionLost, ProtocolError):
                    losses += 1
                    requeue_all()
                    if losses >= len(self._servers):
                        raise
        finally:
            for mid in list(inflight):
                self._abandon(mid, cancel=True)

    # --- everything else -------------------------------------------------

    def jobs(self, state=None, plugin=None, limit=None):
        """Detached jobs, newest first, as dicts like Job.status(); filtered
        by state and plugin; at most limit (server default 1000)."""
        fields = {}
        if state is not None:
            fields["state"] = state
        if plugin is not None:
            fields["plugin"] = plugin
        if limit is not None:
            fields["limit"] = limit
        ans = self._request("jobs", fields)
        jobs = ans.get("jobs")
        if not isinstance(jobs, list):
            raise ProtocolError("answer to jobs has no list of jobs")
        return jobs

    def ping(self, timeout=None):
        """Round-trip time to the server, in seconds."""
        t0 = time.monotonic()
        self._request("ping", timeout=timeout)
        return time.monotonic() - t0

    def stats(self, timeout=None):
        """The server's statistics (docs/protocol.md, section 8)."""
        return _strip(self._request("stats", timeout=timeout))


def _read_token(path):
    with open(path, "r", encoding="utf-8") as f:
        token = f.readline().strip()
    if not token:
        raise ValueError("%s: the token file is empty" % path)
    return token
