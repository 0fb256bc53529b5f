"""The connection and stream state machines, as tables (after h11's ``_state.py``).

Both tables are role-agnostic: a transition happens whichever side started it (the
client *sends* ``publish``, the server *receives* it; both move the stream to
``PUBLISH_PENDING``).  Which side may start which transition is enforced by the
connection classes, which only offer the methods of their role.

A pair missing from a table is illegal: :func:`next_connection_state` and
:func:`next_stream_state` raise, naming the input, the role and the state.
"""

from __future__ import annotations

import enum

from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = [
    "CONNECTION_TRANSITIONS",
    "STREAM_TRANSITIONS",
    "ConnectionInput",
    "ConnectionState",
    "StreamInput",
    "StreamState",
    "next_connection_state",
    "next_stream_state",
]


class ConnectionState(enum.Enum):
    """The state of the NetConnection."""

    #: Exchanging C0/C1/C2 and S0/S1/S2.
    HANDSHAKING = "handshaking"
    #: Chunks flow; no ``connect`` yet.
    IDLE = "idle"
    #: ``connect`` sent (client) or received (server), not yet answered.
    CONNECTING = "connecting"
    #: ``connect`` accepted: streams can be created.
    CONNECTED = "connected"
    #: Closed by either side, or ``connect`` refused.
    CLOSED = "closed"
    #: A protocol error happened; the connection is unusable for good.
    ERROR = "error"


class ConnectionInput(enum.Enum):
    """What moves the NetConnection."""

    HANDSHAKE_DONE = "handshake done"
    CONNECT = "connect"
    CONNECT_ACCEPTED = "connect accepted"
    CONNECT_REJECTED = "connect rejected"
    CLOSE = "close"


class StreamState(enum.Enum):
    """The state of one message stream (a NetStream)."""

    #: Created by ``createStream``; neither publishing nor playing.
    IDLE = "idle"
    #: ``publish`` sent/received, not yet answered.
    PUBLISH_PENDING = "publish pending"
    PUBLISHING = "publishing"
    #: ``play`` sent/received, not yet answered.
    PLAY_PENDING = "play pending"
    PLAYING = "playing"
    #: Removed by ``deleteStream``.
    DELETED = "deleted"


class StreamInput(enum.Enum):
    """What moves a message stream."""

    PUBLISH = "publish"
    PUBLISH_ACCEPTED = "publish accepted"
    PUBLISH_REJECTED = "publish rejected"
    PLAY = "play"
    PLAY_ACCEPTED = "play accepted"
    PLAY_REJECTED = "play rejected"
    #: Playback ended (NetStream.Play.Stop / Complete).
    PLAY_STOPPED = "play stopped"
    #: An audio, video or data message travelled on the stream.
    MEDIA = "media"
    CLOSE_STREAM = "close stream"
    DELETE_STREAM = "delete stream"


C = ConnectionState
CI = ConnectionInput
CONNECTION_TRANSITIONS: dict[tuple[ConnectionState, ConnectionInput], ConnectionState] = {
    (C.HANDSHAKING, CI.HANDSHAKE_DONE): C.IDLE,
    (C.IDLE, CI.CONNECT): C.CONNECTING,
    (C.CONNECTING, CI.CONNECT_ACCEPTED): C.CONNECTED,
    (C.CONNECTING, CI.CONNECT_REJECTED): C.CLOSED,
    (C.HANDSHAKING, CI.CLOSE): C.CLOSED,
    (C.IDLE, CI.CLOSE): C.CLOSED,
    (C.CONNECTING, CI.CLOSE): C.CLOSED,
    (C.CONNECTED, CI.CLOSE): C.CLOSED,
    (C.CLOSED, CI.CLOSE): C.CLOSED,
}

S = StreamState
SI = StreamInput
_LIVE = (S.IDLE, S.PUBLISH_PENDING, S.PUBLISHING, S.PLAY_PENDING, S.PLAYING)
STREAM_TRANSITIONS: dict[tuple[StreamState, StreamInput], StreamState] = {
    (S.IDLE, SI.PUBLISH): S.PUBLISH_PENDING,
    (S.PUBLISH_PENDING, SI.PUBLISH_ACCEPTED): S.PUBLISHING,
    (S.PUBLISH_PENDING, SI.PUBLISH_REJECTED): S.IDLE,
    (S.IDLE, SI.PLAY): S.PLAY_PENDING,
    # A new play on a playing stream replaces it (Flash playlists do this).
    (S.PLAYING, SI.PLAY): S.PLAY_PENDING,
    (S.PLAY_PENDING, SI.PLAY_ACCEPTED): S.PLAYING,
    (S.PLAY_PENDING, SI.PLAY_REJECTED): S.IDLE,
    (S.PLAYING, SI.PLAY_REJECTED): S.IDLE,
    (S.PLAYING, SI.PLAY_STOPPED): S.IDLE,
    (S.PLAY_PENDING, SI.PLAY_STOPPED): S.IDLE,
    (S.IDLE, SI.PLAY_STOPPED): S.IDLE,
    # Media flows while publishing or playing; before the answer it is tolerated
    # (the connection drops what it cannot use) and moves nothing.
    **{(state, SI.MEDIA): state for state in _LIVE},
    **{(state, SI.CLOSE_STREAM): S.IDLE for state in _LIVE},
    **{(state, SI.DELETE_STREAM): S.DELETED for state in _LIVE},
}

#: Stream states in which received media is handed to the application.
MEDIA_STATES = frozenset({S.PUBLISHING, S.PLAYING, S.PLAY_PENDING})
#: Connection states that receive nothing more.
ENDED_STATES = frozenset({ConnectionState.CLOSED, ConnectionState.ERROR})


def _error(remote: bool, message: str) -> ProtocolError:
    return RemoteProtocolError(message) if remote else LocalProtocolError(message)


def next_connection_state(
    state: ConnectionState, event: ConnectionInput, *, role: str, remote: bool
) -> ConnectionState:
    """The state after ``event``; raises if the table has no such transition.

    ``remote`` says whether the peer caused the event (RemoteProtocolError) or the
    application (LocalProtocolError).
    """
    try:
        return CONNECTION_TRANSITIONS[state, event]
    except KeyError:
        raise _error(
            remote,
            f"{event.value!r} is not allowed for a {role} connection in state {state.value!r}",
        ) from None


def next_stream_state(
    state: StreamState, event: StreamInput, *, role: str, stream_id: int, remote: bool
) -> StreamState:
    """The state of a stream after ``event``; raises if the table has no such transition."""
    try:
        return STREAM_TRANSITIONS[state, event]
    except KeyError:
        raise _error(
            remote,
            f"{event.value!r} is not allowed on the {role}'s stream {stream_id} "
            f"in state {state.value!r}",
        ) from None
