# SPDX-License-Identifier: MIT
"""Exceptions: one class per error code of the wire protocol, plus the few
failures that happen on the client's side of the connection.

Every exception raised by this package derives from JobdError, whose
``code`` is the protocol's code string (``"busy"``, ``"plugin_failed"``...)
or ``None`` for a failure the client detected itself. Programs act on the
class or on ``code``; ``message`` is for people and may change wording.
"""

import builtins


class JobdError(Exception):
    """Base of every jobd error.

    Attributes: ``code`` (protocol code or None), ``message`` (text),
    ``job`` (job id for a detached job, else None), ``state`` (that job's
    final state, else None), ``provenance`` (dict when the plugin ran and
    failed, else None).
    """

    code = None

    def __init__(self, message, code=None, job=None, state=None, provenance=None):
        # Exception's args hold only the message, so that str() and
        # pickling (multiprocessing) work as for any exception.
        Exception.__init__(self, message)
        if code is not None:
            self.code = code
        self.message = message
        self.job = job
        self.state = state
        self.provenance = provenance

    def __str__(self):
        if self.code:
            return "%s: %s" % (self.code, self.message)
        return self.message


# --- the protocol's codes (docs/protocol.md, section 5) ----------------------


class BadFrame(JobdError):
    """The server saw a frame of length 0 (it closes the connection)."""

    code = "bad_frame"


class TooLarge(JobdError):
    """A request over the server's max_frame_size or max_queued_input."""

    code = "too_large"


class BadJson(JobdError):
    """The server could not parse a frame as UTF-8 JSON."""

    code = "bad_json"


class BadRequest(JobdError):
    """A field missing, of the wrong type or out of range."""

    code = "bad_request"


class UnknownType(JobdError):
    """The server does not know this message type (an older server)."""

    code = "unknown_type"


class UnsupportedVersion(JobdError):
    """The server cannot speak the protocol version asked for."""

    code = "unsupported_version"


class DuplicateId(JobdError):
    """A call reused the id of a call still in flight."""

    code = "duplicate_id"


class UnknownPlugin(JobdError):
    """No loaded plugin has that name."""

    code = "unknown_plugin"


class BusyError(JobdError):
    """The plugin's queue is full: try again after ``retry_after`` seconds.

    ``retry_after`` is the server's estimate (a float, seconds), or None.
    """

    code = "busy"

    def __init__(self, message, code=None, retry_after=None, **kw):
        JobdError.__init__(self, message, code, **kw)
        self.retry_after = retry_after


class JobTimeout(JobdError, builtins.TimeoutError):
    """The call's deadline passed; the job was cancelled.

    Also a builtin TimeoutError, so ``except TimeoutError`` catches it.
    Raised for the server's ``timeout`` and for a client-side deadline.
    """

    code = "timeout"


class Cancelled(JobdError):
    """The call or job was cancelled."""

    code = "cancelled"


class PluginFailed(JobdError):
    """The plugin reported a failure; ``message`` is the plugin's text."""

    code = "plugin_failed"


class ShuttingDown(JobdError):
    """The server is draining and takes no new calls."""

    code = "shutting_down"


class NotFound(JobdError):
    """No job with that id (or its result has expired)."""

    code = "not_found"


class TooManyConnections(JobdError):
    """The server is at its max_connections."""

    code = "too_many_connections"


class InternalError(JobdError):
    """A bug or a resource failure in the server, or a code this client
    does not know (then ``code`` keeps the server's string)."""

    code = "internal"


class IdleTimeout(JobdError):
    """The server closed a connection that sent nothing for too long."""

    code = "idle_timeout"


class JobInterrupted(JobdError):
    """A detached job was running when the server stopped and could not be
    run again."""

    code = "interrupted"


class Unauthorized(JobdError):
    """The server wants a token, or refused the one given."""

    code = "unauthorized"


class Forbidden(JobdError):
    """The token's user may not use this plugin or job."""

    code = "forbidden"


class PluginCrashed(JobdError):
    """The worker process running the call died (the message names the
    signal or exit status); another try may succeed."""

    code = "plugin_crashed"


class Unavailable(JobdError):
    """The plugin is quarantined after repeated crashes: try again after
    ``retry_after`` seconds (a float), or None if the server did not say."""

    code = "unavailable"

    def __init__(self, message, code=None, retry_after=None, **kw):
        JobdError.__init__(self, message, code, **kw)
        self.retry_after = retry_after


class OutOfMemory(JobdError):
    """The worker running the call reached the plugin's memory_limit."""

    code = "out_of_memory"


# --- failures seen by the client ----------------------------------------------


class ConnectError(JobdError, builtins.ConnectionError):
    """No server in the list could be reached; the message names each one
    and why."""


class ConnectionLost(JobdError, builtins.ConnectionError):
    """The connection broke before the answer came (on every server tried)."""


class ProtocolError(JobdError):
    """The server sent something that is not jobd's protocol."""


class JobNotFinished(JobdError):
    """Job.result() on a job that has not finished; ``state`` says where
    it is (``queued`` or ``running``)."""


class ProtocolVersionError(JobdError, builtins.NotImplementedError):
    """The feature needs a protocol version that client and server do not
    both speak yet (binary arrays need version 2)."""


_BY_CODE = {
    cls.code: cls
    for cls in (
        BadFrame,
        TooLarge,
        BadJson,
        BadRequest,
        UnknownType,
        UnsupportedVersion,
        DuplicateId,
        UnknownPlugin,
        BusyError,
        JobTimeout,
        Cancelled,
        PluginFailed,
        ShuttingDown,
        NotFound,
        TooManyConnections,
        InternalError,
        IdleTimeout,
        JobInterrupted,
        Unauthorized,
        Forbidden,
        PluginCrashed,
        Unavailable,
        OutOfMemory,
    )
}

#: Every protocol code this client knows, mapped to its exception class.
ERROR_CLASSES = dict(_BY_CODE)


def from_message(msg):
    """The exception for a server ``error`` message (a dict)."""
    code = msg.get("code")
    if not isinstance(code, str):
        code = "internal"
    text = msg.get("message")
    if not isinstance(text, str):
        text = ""
    # A newer server may add codes: they become InternalError, with the
    # server's string kept in .code (docs/protocol.md, section 11).
    cls = _BY_CODE.get(code, InternalError)
    kw = {
        "job": msg.get("job"),
        "state": msg.get("state"),
        "provenance": msg.get("provenance"),
    }
    if cls is BusyError or cls is Unavailable:
        ms = msg.get("retry_after_ms")
        after = ms / 1000.0 if isinstance(ms, (int, float)) and ms >= 0 else None
        return cls(text, code, retry_after=after, **kw)
    return cls(text, code, **kw)
