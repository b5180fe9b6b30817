# SPDX-License-Identifier: MIT
"""Binary arrays beside the JSON (protocol version 2).

Version 2 of the wire protocol will carry named arrays (dtype, shape, raw
little-endian bytes) next to a call's JSON input and output. Its wire
format is not settled yet, so this module only refuses, clearly; it is the
one place that will encode a call's ``arrays=`` and decode a result's
arrays (to NumPy arrays when NumPy is installed, else to memoryviews with
dtype and shape) once the server speaks version 2.
"""

from .errors import ProtocolVersionError

#: The protocol version that carries arrays.
ARRAYS_VERSION = 2

_UNAVAILABLE = (
    "arrays need protocol version 2, which this client and server do not "
    "speak yet; send the data inside the JSON input for now "
    "(NumPy arrays are converted with tolist())"
)


def check_supported(arrays, server_version):
    """Raises ProtocolVersionError unless arrays is empty or the server
    speaks version 2. (No released server does yet.)"""
    if not arrays:
        return
    # When version 2 lands: return when server_version >= ARRAYS_VERSION.
    raise ProtocolVersionError(_UNAVAILABLE)


def encode(arrays):
    """The frames that carry arrays after a call (version 2): not yet."""
    raise ProtocolVersionError(_UNAVAILABLE)


def decode(msg):
    """The arrays of a version-2 result: not yet."""
    raise ProtocolVersionError(_UNAVAILABLE)
