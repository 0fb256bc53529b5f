"""trio-rtmp: an RTMP server and client for Trio, built on a sans-IO protocol core.

Every name here is loaded on first use: the Trio API (``open_client``, ``serve_rtmp``
...) so that ``import trio_rtmp.core`` and ``import trio_rtmp.media`` work without Trio
installed, and the rest so that the ``trio-rtmp`` command starts with nothing loaded
(Ctrl-C while it loads is then its own to handle).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import ClientStatistics, FrameChannel, RTMPClient, connect_client, open_client
    from .core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError, RTMPError
    from .exceptions import (
        ConnectionClosed,
        ConnectionFailed,
        ConnectionRejected,
        ConnectionTimeout,
        PlayRejected,
        PublishRejected,
        Refused,
        StreamNotFound,
    )
    from .media.frames import AudioSample, CodecConfig, Metadata, VideoSample
    from .server import (
        PreparedMessage,
        Reject,
        RTMPServer,
        ServerConfig,
        ServerHandler,
        ServerSession,
        ServerStatistics,
        SessionStatistics,
        serve_rtmp,
        server_ssl_context,
    )

__version__ = "0.1.0.dev0"

# Public names and the module each lives in.
_LAZY = {
    "LocalProtocolError": "core.errors",
    "ProtocolError": "core.errors",
    "RemoteProtocolError": "core.errors",
    "RTMPError": "core.errors",
    "AudioSample": "media.frames",
    "CodecConfig": "media.frames",
    "Metadata": "media.frames",
    "VideoSample": "media.frames",
    "ClientStatistics": "client",
    "FrameChannel": "client",
    "RTMPClient": "client",
    "connect_client": "client",
    "open_client": "client",
    "ConnectionClosed": "exceptions",
    "ConnectionFailed": "exceptions",
    "ConnectionRejected": "exceptions",
    "ConnectionTimeout": "exceptions",
    "PlayRejected": "exceptions",
    "PublishRejected": "exceptions",
    "Refused": "exceptions",
    "StreamNotFound": "exceptions",
    "PreparedMessage": "server",
    "RTMPServer": "server",
    "Reject": "server",
    "ServerConfig": "server",
    "ServerHandler": "server",
    "ServerSession": "server",
    "ServerStatistics": "server",
    "SessionStatistics": "server",
    "serve_rtmp": "server",
    "server_ssl_context": "server",
}

__all__ = [
    "AudioSample",
    "ClientStatistics",
    "CodecConfig",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionRejected",
    "ConnectionTimeout",
    "FrameChannel",
    "LocalProtocolError",
    "Metadata",
    "PlayRejected",
    "PreparedMessage",
    "ProtocolError",
    "PublishRejected",
    "RTMPClient",
    "RTMPServer",
    "Reject",
    "RTMPError",
    "Refused",
    "RemoteProtocolError",
    "ServerConfig",
    "ServerHandler",
    "ServerSession",
    "ServerStatistics",
    "SessionStatistics",
    "StreamNotFound",
    "VideoSample",
    "__version__",
    "connect_client",
    "open_client",
    "serve_rtmp",
    "server_ssl_context",
]


# Subpackages and modules, also loaded on first use (``trio_rtmp.media.FlvWriter``
# after a bare ``import trio_rtmp``).
_SUBMODULES = frozenset({"cli", "client", "core", "exceptions", "media", "relay", "server"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_rtmp' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
