"""The sans-IO RTMP protocol core.

Bytes in, events out; events in, bytes out.  Nothing in this package performs I/O,
imports an event loop, reads a clock or draws randomness: time and random bytes are
passed in by the caller, so any event loop (Trio, asyncio, plain sockets) can drive it.
"""

from __future__ import annotations

from .config import DEFAULT_LIMITS, Limits
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError, RTMPError

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "LocalProtocolError",
    "ProtocolError",
    "RTMPError",
    "RemoteProtocolError",
]
