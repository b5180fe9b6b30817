# SPDX-License-Identifier: MIT
"""Framing (wire protocol v1): a 4-byte big-endian length N, then N bytes of
one UTF-8 JSON object. Pure code, no I/O, so that tests can feed it bytes
one at a time.
"""

import json
import struct

from .errors import ProtocolError

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
#: The protocol's ceiling on max_frame_size; a server announces its own.
MAX_FRAME_LIMIT = 1 << 30


def _json_default(value):
    # NumPy scalars and arrays (and anything else with tolist()) become
    # plain JSON numbers and lists; everything else is the caller's error.
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError("%s is not JSON-serialisable" % type(value).__name__)


def encode_body(msg):
    """One message (a dict) as compact UTF-8 JSON bytes."""
    try:
        text = json.dumps(
            msg,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
    except ValueError as e:
        # NaN and infinities have no JSON form.
        raise ValueError("input is not valid JSON: %s" % e) from None
    return text.encode("utf-8")


def encode(msg):
    """One message as a whole frame: header and body."""
    body = encode_body(msg)
    return HEADER.pack(len(body)) + body


class Decoder:
    """Turns a byte stream into messages, whatever the read sizes."""

    def __init__(self, max_size=MAX_FRAME_LIMIT):
        self.max_size = max_size
        self._buf = bytearray()

    def mid_frame(self):
        """True when part of a frame has arrived and the rest has not."""
        return len(self._buf) > 0

    def feed(self, data):
        """Adds data; returns the list of whole messages (dicts) it
        completed. Raises ProtocolError on a broken stream."""
        self._buf += data
        out = []
        while len(self._buf) >= HEADER_SIZE:
            (n,) = HEADER.unpack_from(self._buf)
            if n == 0:
                raise ProtocolError("server sent a frame of length 0")
            if n > self.max_size:
                raise ProtocolError("server announced a frame of %d bytes" % n)
            if len(self._buf) < HEADER_SIZE + n:
                break
            body = bytes(self._buf[HEADER_SIZE:HEADER_SIZE + n])
            del self._buf[:HEADER_SIZE + n]
            try:
                msg = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise ProtocolError("invalid JSON from server: %s" % e) from None
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                raise ProtocolError("message from server without a type")
            out.append(msg)
        return out
