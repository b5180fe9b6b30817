# SPDX-License-Identifier: MIT
"""jobd: a Python client for the jobd job server.

    >>> import jobd
    >>> client = jobd.Client("labserver:7878")
    >>> client.call("echo", {"hello": "world"})
    {'hello': 'world'}

See python/README.md for a walkthrough.
"""

from .client import Client
from .errors import (
    ERROR_CLASSES,
    BadFrame,
    BadJson,
    BadRequest,
    BusyError,
    Cancelled,
    ConnectError,
    ConnectionLost,
    DuplicateId,
    Forbidden,
    OutOfMemory,
    PluginCrashed,
    Unavailable,
    IdleTimeout,
    InternalError,
    JobdError,
    JobInterrupted,
    JobNotFinished,
    JobTimeout,
    NotFound,
    PluginFailed,
    ProtocolError,
    ProtocolVersionError,
    ShuttingDown,
    TooLarge,
    TooManyConnections,
    Unauthorized,
    UnknownPlugin,
    UnknownType,
    UnsupportedVersion,
)
from .job import Job

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Job",
    "ERROR_CLASSES",
    "JobdError",
    "BadFrame",
    "BadJson",
    "BadRequest",
    "BusyError",
    "Cancelled",
    "ConnectError",
    "ConnectionLost",
    "DuplicateId",
    "Forbidden",
    "OutOfMemory",
    "PluginCrashed",
    "Unavailable",
    "IdleTimeout",
    "InternalError",
    "JobInterrupted",
    "JobNotFinished",
    "JobTimeout",
    "NotFound",
    "PluginFailed",
    "ProtocolError",
    "ProtocolVersionError",
    "ShuttingDown",
    "TooLarge",
    "TooManyConnections",
    "Unauthorized",
    "UnknownPlugin",
    "UnknownType",
    "UnsupportedVersion",
]
