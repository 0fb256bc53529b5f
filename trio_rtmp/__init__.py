"""trio-rtmp: an RTMP server and client for Trio, built on a sans-IO protocol core."""

from __future__ import annotations

from .core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError, RTMPError

__version__ = "0.1.0.dev0"

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RTMPError",
    "RemoteProtocolError",
    "__version__",
]
