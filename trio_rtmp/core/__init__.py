"""The sans-IO RTMP protocol core.

Bytes in, events out; events in, bytes out.  Nothing in this package performs I/O,
imports an event loop, reads a clock or draws randomness: time and random bytes are
passed in by the caller, so any event loop (Trio, asyncio, plain sockets) can drive it.

The layers, each usable alone:

* :mod:`~trio_rtmp.core.handshake`: :class:`ClientHandshake`, :class:`ServerHandshake`;
* :mod:`~trio_rtmp.core.chunks`: :class:`ChunkReader`, :class:`ChunkWriter`;
* :mod:`~trio_rtmp.core.messages`: typed messages and their codecs;
* :mod:`~trio_rtmp.core.amf0`, :mod:`~trio_rtmp.core.amf3`: the AMF codecs
  (value types in :mod:`~trio_rtmp.core.amf`);
* :mod:`~trio_rtmp.core.connection`: :class:`ClientConnection`,
  :class:`ServerConnection` (events in :mod:`~trio_rtmp.core.events`, the state
  tables in :mod:`~trio_rtmp.core._state`);
* :mod:`~trio_rtmp.core.url`: :func:`parse_url`;
* :mod:`~trio_rtmp.core.timestamps`: :class:`TimestampUnwrapper` (timestamps past
  their 32-bit wrap);
* :mod:`~trio_rtmp.core.config`: :class:`Limits`; :mod:`~trio_rtmp.core.errors`.
"""

from __future__ import annotations

from . import amf0, amf3, events, messages
from ._state import ConnectionState, StreamState
from .chunks import ChunkReader, ChunkWriter, Message
from .config import DEFAULT_LIMITS, Limits
from .connection import ClientConnection, ConnectionConfig, ServerConnection
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError, RTMPError
from .handshake import ClientHandshake, ServerHandshake
from .timestamps import TimestampUnwrapper
from .url import RTMPURL, parse_url

__all__ = [
    "DEFAULT_LIMITS",
    "RTMPURL",
    "ChunkReader",
    "ChunkWriter",
    "ClientConnection",
    "ClientHandshake",
    "ConnectionConfig",
    "ConnectionState",
    "Limits",
    "LocalProtocolError",
    "Message",
    "ProtocolError",
    "RTMPError",
    "RemoteProtocolError",
    "ServerConnection",
    "ServerHandshake",
    "StreamState",
    "TimestampUnwrapper",
    "amf0",
    "amf3",
    "events",
    "messages",
    "parse_url",
]
