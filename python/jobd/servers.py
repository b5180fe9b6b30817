# SPDX-License-Identifier: MIT
"""Server lists, as jobctl and libjobd-client read them.

``"host:port[,host:port...]"``; an IPv6 literal in brackets
(``[::1]:7878``); a missing port means 7878; spaces around entries are
ignored; an entry written ``tls://host:port`` is reached over TLS. Pure
code: no name resolution here (that happens at connect).
"""

import os
from collections import namedtuple

DEFAULT_SERVER = "127.0.0.1:7878"
DEFAULT_PORT = 7878

#: ENV names shared with jobctl and libjobd-client.
ENV_SERVER = "JOBD_SERVER"
ENV_TOKEN = "JOBD_TOKEN"
ENV_CA = "JOBD_CA"

_TLS_PREFIX = "tls://"


class Server(namedtuple("Server", "host port tls")):
    """One entry: host (no brackets), port (int), tls (bool)."""

    __slots__ = ()

    @property
    def display(self):
        """``host:port`` or ``[v6]:port``, with ``tls://`` when TLS."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s%s:%d" % (_TLS_PREFIX if self.tls else "", host, self.port)

    def __str__(self):
        return self.display


def _port(text, entry):
    if not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise ValueError('"%s": port must be a number from 1 to 65535' % entry)
    return int(text)


def parse_one(entry):
    """One entry, already trimmed, as a Server. Raises ValueError naming it."""
    if not entry:
        raise ValueError("empty entry in server list")
    rest, tls = entry, False
    if rest.lower().startswith(_TLS_PREFIX):
        rest, tls = rest[len(_TLS_PREFIX):], True
    elif "://" in rest:
        raise ValueError('"%s": the only scheme is tls://' % entry)
    port = DEFAULT_PORT
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ValueError("\"%s\": missing ']'" % entry)
        host, after = rest[1:close], rest[close + 1:]
        if after:
            if not after.startswith(":"):
                raise ValueError("\"%s\": expected ':' after ']'" % entry)
            port = _port(after[1:], entry)
    else:
        host, colon, after = rest.partition(":")
        if colon:
            if ":" in after:
                raise ValueError(
                    '"%s": write an IPv6 address in brackets, e.g. [::1]:7878' % entry
                )
            port = _port(after, entry)
    if not host:
        raise ValueError('"%s": empty host' % entry)
    return Server(host, port, tls)


def parse(text):
    """A server list (a string, or a list of entries) as a list of Server."""
    entries = text.split(",") if isinstance(text, str) else list(text)
    return [parse_one(str(e).strip(" \t")) for e in entries]


def from_env(text=None):
    """The list to use: text if given, else $JOBD_SERVER, else the default,
    the same order jobctl follows."""
    if text is None:
        text = os.environ.get(ENV_SERVER) or DEFAULT_SERVER
    return parse(text)
