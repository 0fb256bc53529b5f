"""The one small tree of exceptions the protocol core raises.

``RTMPError`` is the root of everything trio-rtmp raises on purpose.  The sans-IO
core raises only ``ProtocolError`` subclasses: a parser fed arbitrary bytes raises a
``RemoteProtocolError`` (the peer sent something illegal) and never ``IndexError``,
``struct.error``, ``UnicodeDecodeError``, ``RecursionError`` or ``KeyError``.  Asking
the core to do something illegal raises ``LocalProtocolError``.
"""

from __future__ import annotations

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RTMPError",
    "RemoteProtocolError",
]


class RTMPError(Exception):
    """Base class of every exception trio-rtmp raises on purpose."""


class ProtocolError(RTMPError):
    """The RTMP protocol was violated, by us or by the peer.

    After a ``ProtocolError`` a connection object is in its error state for good.
    """


class LocalProtocolError(ProtocolError):
    """The application asked for something RTMP does not allow (our side's fault)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something RTMP does not allow, or that exceeds a configured limit."""
