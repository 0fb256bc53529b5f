"""The exceptions of trio-rtmp's Trio API (client and server).

Everything derives from :class:`~trio_rtmp.core.errors.RTMPError`.  The protocol core's
:class:`~trio_rtmp.core.errors.ProtocolError` tree is for bytes that break the rules;
these are for what a user of a connection meets:

* :class:`ConnectionClosed`: the connection is gone (the peer closed it, the network
  failed, or it was never made: :class:`ConnectionFailed`).
* :class:`ConnectionTimeout`: connecting, or waiting for an answer, took too long.
* :class:`ConnectionRejected`: the server refused ``connect`` (wrong app, auth...).
* :class:`PublishRejected`: the server refused ``publish`` (NetStream.Publish.BadName...).
* :class:`PlayRejected`: the server refused ``play``; :class:`StreamNotFound` when the
  stream does not exist.

Refusals carry the server's status ``code`` and ``description``.
"""

from __future__ import annotations

from .core.errors import RTMPError

__all__ = [
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionRejected",
    "ConnectionTimeout",
    "PlayRejected",
    "PublishRejected",
    "Refused",
    "StreamNotFound",
]


class ConnectionClosed(RTMPError):
    """The connection is closed: by the peer, by a network failure, or by us."""


class ConnectionFailed(ConnectionClosed):
    """The connection could not be made at all (refused, unreachable, TLS failure)."""


class ConnectionTimeout(RTMPError, TimeoutError):
    """Connecting, the handshake, or an answer from the peer took too long."""


class Refused(RTMPError):
    """The server answered a request with a refusal.

    ``code`` is the status code (e.g. ``NetStream.Publish.BadName``), ``description``
    the server's words.
    """

    def __init__(self, code: str, description: str = "") -> None:
        self.code = code
        self.description = description
        super().__init__(f"{code}: {description}" if description else code)


class ConnectionRejected(Refused):
    """The server refused ``connect`` (NetConnection.Connect.Rejected, InvalidApp...).

    A server that hangs up instead of answering (nginx-rtmp, for an unknown
    application) gives the code ``NetConnection.Connect.Closed``.
    """


class PublishRejected(Refused):
    """The server refused to let us publish (NetStream.Publish.BadName, ...Failed...).

    ``NetConnection.Connect.Closed`` when it hung up instead of answering (nginx-rtmp
    when its ``on_publish`` hook refuses).  Sending media raises it too once the server
    stops a running publish.
    """


class PlayRejected(Refused):
    """The server refused to let us play (NetStream.Play.Failed, ...).

    ``NetConnection.Connect.Closed`` when it hung up instead of answering (nginx-rtmp
    when its ``on_play`` hook refuses).  The frames channel raises it too when the
    server fails a running play.
    """


class StreamNotFound(PlayRejected):
    """The stream to play does not exist (NetStream.Play.StreamNotFound)."""
