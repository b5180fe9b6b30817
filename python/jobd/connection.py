# SPDX-License-Identifier: MIT
"""One connection to one server: connect (TCP, or TLS with the server's name
verified), the hello handshake, writing frames, reading messages.

Every wait is bounded: reads take a timeout in seconds and return what has
arrived by then, so that the caller can look at its deadline and at a
pending Ctrl-C between reads.
"""

import socket
import ssl
import time
from . import frame
from .errors import (
    ConnectionLost,
    ProtocolError,
    TooLarge,
    Forbidden,
    Unauthorized,
    UnsupportedVersion,
    from_message,
)

PROTOCOL_VERSION = 1

# Errors in answer to hello that are about us, not about the server: the
# next server in the list would say the same, so they are raised, not
# failed over.
_FATAL_AT_HELLO = (Unauthorized, Forbidden, UnsupportedVersion)


class Unreachable(Exception):
    """This server could not be used; str() is the reason, for the trail."""


def tls_context(ca=None):
    """A client TLS context: TLS 1.2 or newer, the server's certificate
    checked against ca (a PEM file) or the system's CAs, and its name
    checked against the host we asked for."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Connection:
    """A connected, greeted socket. Not thread-safe: one user at a time."""

    def __init__(self, server, sock):
        self.server = server
        self._sock = sock
        self._dec = frame.Decoder()
        self._close_reason = None
        self.server_name = None
        self.version = None
        self.max_frame_size = None

    # --- opening -------------------------------------------------------

    @classmethod
    def open(cls, server, deadline, client_name, token=None, ssl_context=None):
        """Connects to server and says hello before deadline (a
        time.monotonic() value). Raises Unreachable (try the next server)
        or an error the next server would repeat (Unauthorized...)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unreachable("connect timed out")
        try:
            sock = socket.create_connection((server.host, server.port), timeout=left)
        except socket.timeout:
            raise Unreachable("connect timed out") from None
        except socket.gaierror as e:
            raise Unreachable(e.strerror or str(e)) from None
        except OSError as e:
            raise Unreachable(e.strerror or str(e)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if server.tls:
                sock = cls._tls(sock, server, deadline, ssl_context)
            conn = cls(server, sock)
        except BaseException:
            sock.close()
            raise
        try:
            conn._hello(deadline, client_name, token)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _tls(sock, server, deadline, ctx):
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            return ctx.wrap_socket(sock, server_hostname=server.host)
        except ssl.SSLCertVerificationError as e:
            raise Unreachable("TLS: %s" % (e.verify_message or e.reason)) from None
        except ssl.SSLError as e:
            raise Unreachable("TLS: %s" % (e.reason or e)) from None
        except socket.timeout:
            raise Unreachable("TLS handshake timed out") from None
        except OSError as e:
            raise Unreachable("TLS: %s" % (e.strerror or e)) from None

    def _hello(self, deadline, client_name, token):
        # The hello costs one round trip per connection and buys a check
        # that a jobd speaking v1 is there, its frame limit, the token's
        # verdict, and an early failover when the server refuses us.
        hello = {"type": "hello", "version": PROTOCOL_VERSION, "client": client_name}
        if token is not None:
            hello["token"] = token
        try:
            self.send(hello, deadline)
            while self.version is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unreachable("no answer to hello")
                for msg in self.receive(left):
                    if msg.get("type") == "error" and "id" not in msg:
                        err = from_message(msg)
                        if isinstance(err, _FATAL_AT_HELLO):
                            raise err
                        raise Unreachable(str(err))
        except (ConnectionLost, ProtocolError) as e:
            raise Unreachable(e.message) from None

    # --- I/O -----------------------------------------------------------

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None

    @property
    def closed(self):
        return self._sock is None

    def _lost(self, why):
        self.close()
        return ConnectionLost("%s: %s" % (self.server.display, why))

    def send(self, msg, deadline=None):
        """Writes one message whole, or raises. Raises TooLarge (nothing
        sent) for a message over the server's limit, ConnectionLost when
        the connection broke or a deadline cut a frame in half."""
        if self._sock is None:
            raise ConnectionLost("%s: not connected" % self.server.display)
        data = frame.encode(msg)
        size = len(data) - frame.HEADER_SIZE
        limit = self.max_frame_size or frame.MAX_FRAME_LIMIT
        if size > limit:
            raise TooLarge(
                "request is %d bytes, over the server's max_frame_size of %d"
                % (size, limit)
            )
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        try:
            self._sock.settimeout(timeout)
            self._sock.sendall(data)
        except socket.timeout:
            # Part of a frame may be out: nobody can resume the stream.
            raise self._lost("timed out sending a request") from None
        except OSError as e:
            raise self._lost("sending: %s" % (e.strerror or e)) from None

    def receive(self, timeout):
        """The messages that arrive within timeout seconds (at least one
        unless the time runs out; then an empty list). Handles hello and
        connection-level errors itself; answers to requests are returned.
        Raises ConnectionLost or ProtocolError (the connection is closed
        then)."""
        if self._sock is None:
            raise ConnectionLost("%s: not connected" % self.server.display)
        try:
            self._sock.settimeout(max(timeout, 0.0))
            data = self._sock.recv(65536)
        except socket.timeout:
            return []
        except ssl.SSLWantReadError:
            return []
        except BlockingIOError:
            return []
        except OSError as e:
            raise self._lost(e.strerror or str(e)) from None
        if not data:
            if self._dec.mid_frame():
                raise self._lost("connection closed in the middle of a frame")
            if self._close_reason:
                raise self._lost("server closed the connection (%s)" % self._close_reason)
            raise self._lost("server closed the connection")
        try:
            msgs = self._dec.feed(data)
        except ProtocolError as e:
            self.close()
            raise ProtocolError("%s: %s" % (self.server.display, e.message)) from None
        out = []
        for msg in msgs:
            kind = msg["type"]
            if kind == "hello":
                self._on_hello(msg)
            elif kind == "error" and "id" not in msg:
                # About the connection: the server closes it next. Kept
                # so that the loss names the reason; also returned, for
                # the handshake to see.
                self._close_reason = "%s: %s" % (msg.get("code"), msg.get("message"))
                out.append(msg)
            else:
                out.append(msg)
        return out

    def _on_hello(self, msg):
        v = msg.get("version")
        self.version = v if isinstance(v, int) else PROTOCOL_VERSION
        name = msg.get("server")
        self.server_name = name if isinstance(name, str) else None
        limit = msg.get("max_frame_size")
        if isinstance(limit, int) and 0 < limit <= frame.MAX_FRAME_LIMIT:
            self.max_frame_size = limit

    @property
    def closing(self):
        """True once the server has said (an error without an id) that it
        is closing the connection."""
        return self._close_reason is not None
