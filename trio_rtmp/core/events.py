"""Events: what a connection tells the application.

:meth:`ClientConnection.receive_data <trio_rtmp.core.connection.ClientConnection.receive_data>`
(or, step by step, ``next_events``) and their server twins return lists of these
frozen values.  They are symmetric where
RTMP is: the :class:`AudioData` a client sends is the :class:`AudioData` the server
receives.

Both roles
    :class:`HandshakeComplete`, :class:`AudioData`, :class:`VideoData`,
    :class:`StreamMetadata`, :class:`DataReceived`, :class:`CommandReceived`,
    :class:`CommandResult`, :class:`CommandError`, :class:`UnmatchedReply`,
    :class:`AcknowledgementReceived`, :class:`PingResponseReceived`,
    :class:`MessageReceived`, :class:`StreamCreated`, :class:`ConnectionClosed`.
Server role
    :class:`ConnectRequest` (answer with ``accept_connect``/``reject_connect``),
    :class:`PublishRequest`, :class:`PlayRequest` (answer likewise),
    :class:`BufferLengthSet`, :class:`PlayPaused`, :class:`StreamClosed`,
    :class:`StreamDeleted`.
Client role
    :class:`Connected`, :class:`ConnectRejected`, :class:`StatusReceived` and its
    subclasses (:class:`PublishStarted`, :class:`PublishRejected`,
    :class:`PlayStarted`, :class:`PlayRejected`, :class:`PlayStopped`,
    :class:`StreamPublished`, :class:`StreamUnpublished`,
    :class:`ReconnectRequested`), :class:`StreamBegun`, :class:`StreamEnded`,
    :class:`StreamDried`, :class:`StreamRecorded`.
"""

from __future__ import annotations

from typing import Any

import attrs

from . import messages

__all__ = [
    "AcknowledgementReceived",
    "AudioData",
    "BufferLengthSet",
    "CommandError",
    "CommandReceived",
    "CommandResult",
    "ConnectRejected",
    "ConnectRequest",
    "Connected",
    "ConnectionClosed",
    "DataReceived",
    "DataTooLarge",
    "Event",
    "HandshakeComplete",
    "MessageReceived",
    "PingResponseReceived",
    "PlayPaused",
    "PlayRejected",
    "PlayRequest",
    "PlayStarted",
    "PlayStopped",
    "PublishRejected",
    "PublishRequest",
    "PublishStarted",
    "ReconnectRequested",
    "StatusReceived",
    "StreamBegun",
    "StreamClosed",
    "StreamCreated",
    "StreamDeleted",
    "StreamDried",
    "StreamEnded",
    "StreamMetadata",
    "StreamPublished",
    "StreamRecorded",
    "StreamUnpublished",
    "UnmatchedReply",
    "VideoData",
]


@attrs.frozen(kw_only=True)
class Event:
    """Base class of every event."""


# ---------------------------------------------------------------------------
# Both roles


@attrs.frozen(kw_only=True)
class HandshakeComplete(Event):
    """The RTMP handshake is done; chunks flow from now on."""

    #: Whether the peer used the digest ("complex", Flash Player 9) handshake.
    peer_uses_digest: bool
    #: The four version bytes of the peer's C1/S1 (zero for the simple handshake).
    peer_version: bytes


@attrs.frozen(kw_only=True)
class AudioData(Event):
    """An audio message: ``payload`` is an FLV audio tag body."""

    stream_id: int
    timestamp: int
    payload: bytes


@attrs.frozen(kw_only=True)
class VideoData(Event):
    """A video message: ``payload`` is an FLV video tag body."""

    stream_id: int
    timestamp: int
    payload: bytes


@attrs.frozen(kw_only=True)
class StreamMetadata(Event):
    """Stream metadata: an ``onMetaData`` (or ``@setDataFrame onMetaData``) message.

    ``metadata`` is the metadata object as a plain ``dict`` (an ECMA array on the wire
    keeps its keys and values).
    """

    stream_id: int
    timestamp: int
    metadata: dict[str, Any]


@attrs.frozen(kw_only=True)
class DataReceived(Event):
    """Any other data message (``|RtmpSampleAccess``, ``onTextData``, ``onCuePoint``...)."""

    stream_id: int
    timestamp: int
    values: tuple[Any, ...]


@attrs.frozen(kw_only=True)
class DataTooLarge(Event):
    """A data message bigger than ``Limits.max_amf_message_size``, left undecoded.

    Decoding AMF costs CPU for every value, so a data message over the limit is not
    decoded and not taken as metadata; the connection goes on.  Real publishers send
    such messages: an ``onMetaData`` that carries a file's keyframe index (FFmpeg's
    ``-flvflags add_keyframe_index``, yamdi, flvtool2) passes 64 KiB at about two hours.
    ``names`` are its leading string values, read without decoding the rest (e.g.
    ``("@setDataFrame", "onMetaData")``); ``payload`` is the AMF0 body (after the
    format byte of an AMF3 message), for an application that decides to decode it.

    The AMF messages inside one aggregate message share the limit: one that does not
    fit in what the earlier ones left is passed up this way too.
    """

    stream_id: int
    timestamp: int
    names: tuple[str, ...]
    payload: bytes
    amf3: bool = False


@attrs.frozen(kw_only=True)
class CommandReceived(Event):
    """A command the connection does not answer by itself, for the application."""

    stream_id: int
    command: messages.Command


@attrs.frozen(kw_only=True)
class CommandResult(Event):
    """A ``_result`` matched to a request made with ``call()``."""

    transaction_id: float
    #: The name of the command it answers.
    request: str
    command_object: Any
    arguments: tuple[Any, ...]


@attrs.frozen(kw_only=True)
class CommandError(Event):
    """An ``_error`` matched to a request made with ``call()``."""

    transaction_id: float
    request: str
    code: str
    description: str
    information: Any


@attrs.frozen(kw_only=True)
class UnmatchedReply(Event):
    """A ``_result`` or ``_error`` that answers no request we have outstanding."""

    command: messages.Command


@attrs.frozen(kw_only=True)
class AcknowledgementReceived(Event):
    """The peer has received ``sequence_number`` bytes (a wrapping 32-bit count)."""

    sequence_number: int


@attrs.frozen(kw_only=True)
class PingResponseReceived(Event):
    """The answer to our ``ping(ping_time)``."""

    ping_time: int


@attrs.frozen(kw_only=True)
class MessageReceived(Event):
    """A message of a kind the connection passes up unchanged (shared object, unknown type)."""

    message: messages.RTMPMessage


@attrs.frozen(kw_only=True)
class StreamCreated(Event):
    """A message stream exists: the server answered ``createStream`` with ``stream_id``."""

    stream_id: int
    #: The transaction of the ``createStream`` request.
    transaction_id: float = 0.0


@attrs.frozen(kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the connection."""


# ---------------------------------------------------------------------------
# Server role


@attrs.frozen(kw_only=True)
class ConnectRequest(Event):
    """A client asks to connect to ``app``.

    Answer with ``accept_connect()`` or ``reject_connect(description)``; nothing else
    on the connection proceeds until then.  The fields are the usual members of the
    command object (empty/zero when the client left them out); ``command_object`` has
    all of them as sent.
    """

    transaction_id: float
    app: str
    tc_url: str = ""
    flash_version: str = ""
    swf_url: str = ""
    page_url: str = ""
    object_encoding: float = 0.0
    capabilities: float = 0.0
    audio_codecs: float = 0.0
    video_codecs: float = 0.0
    #: Enhanced RTMP: the FourCCs the client supports ("*" means any).
    fourcc_list: tuple[str, ...] = ()
    #: Enhanced RTMP v2: FourCC -> CanDecode 1 | CanEncode 2 | CanForward 4.
    video_fourcc_info_map: dict[str, float] = attrs.field(factory=dict)
    audio_fourcc_info_map: dict[str, float] = attrs.field(factory=dict)
    #: Enhanced RTMP v2: Reconnect 1 | Multitrack 2 | ModEx 4 | TimestampNanoOffset 8.
    caps_ex: int = 0
    command_object: dict[str, Any] = attrs.field(factory=dict)
    #: Optional arguments after the command object (some clients send auth here).
    arguments: tuple[Any, ...] = ()


@attrs.frozen(kw_only=True)
class PublishRequest(Event):
    """A client asks to publish ``stream_key`` on ``stream_id``.

    Answer with ``accept_publish(stream_id)`` or ``reject_publish(stream_id, ...)``.
    """

    stream_id: int
    #: The publishing name, including any query string (``key?token=...``).
    stream_key: str
    #: "live", "record" or "append".
    publish_type: str = "live"


@attrs.frozen(kw_only=True)
class PlayRequest(Event):
    """A client asks to play ``stream_key`` on ``stream_id``.

    Answer with ``accept_play(stream_id)`` or ``reject_play(stream_id, ...)``.
    ``start`` is -2000 (live, else recorded), -1000 (live only) or a position in ms;
    ``duration`` -1 (until the end) or ms; ``reset`` whether to flush a playlist.
    """

    stream_id: int
    stream_key: str
    start: float = -2000.0
    duration: float = -1.0
    reset: bool = True


@attrs.frozen(kw_only=True)
class BufferLengthSet(Event):
    """The client buffers ``buffer_length`` ms of ``stream_id`` (User Control 3)."""

    stream_id: int
    buffer_length: int


@attrs.frozen(kw_only=True)
class PlayPaused(Event):
    """A player paused (``paused`` true) or resumed ``stream_id`` (the ``pause`` command).

    The connection has answered already (StreamEOF and NetStream.Pause.Notify, or
    StreamBegin and NetStream.Unpause.Notify); sending media while the stream is
    paused is the application's to stop.  ``position`` is where the player was, in
    milliseconds of the stream's time.
    """

    stream_id: int
    paused: bool
    position: float


@attrs.frozen(kw_only=True)
class StreamClosed(Event):
    """The client stopped publishing or playing ``stream_id`` (closeStream or FCUnpublish).

    The message stream itself still exists.
    """

    stream_id: int


@attrs.frozen(kw_only=True)
class StreamDeleted(Event):
    """The client deleted message stream ``stream_id`` (deleteStream)."""

    stream_id: int


# ---------------------------------------------------------------------------
# Client role


@attrs.frozen(kw_only=True)
class Connected(Event):
    """The server accepted ``connect``.

    ``properties`` hold fmsVer, capabilities and the server's Enhanced RTMP
    capabilities; ``information`` the NetConnection.Connect.Success status object.
    """

    properties: dict[str, Any]
    information: dict[str, Any]


@attrs.frozen(kw_only=True)
class ConnectRejected(Event):
    """The server refused ``connect`` (or closed the connection instead of answering)."""

    code: str
    description: str
    information: Any = None


@attrs.frozen(kw_only=True)
class StatusReceived(Event):
    """An ``onStatus`` from the server.

    Every ``onStatus`` arrives as this event or one of its subclasses, which mark the
    codes that change a stream's state.
    """

    stream_id: int
    level: str
    code: str
    description: str = ""
    information: Any = None


@attrs.frozen(kw_only=True)
class PublishStarted(StatusReceived):
    """NetStream.Publish.Start: send media now."""


@attrs.frozen(kw_only=True)
class PublishRejected(StatusReceived):
    """The server refused the publish (NetStream.Publish.BadName, ...Failed, ...)."""


@attrs.frozen(kw_only=True)
class PlayStarted(StatusReceived):
    """NetStream.Play.Start: media follows."""


@attrs.frozen(kw_only=True)
class PlayRejected(StatusReceived):
    """The server refused the play (NetStream.Play.StreamNotFound, ...Failed, ...)."""


@attrs.frozen(kw_only=True)
class PlayStopped(StatusReceived):
    """NetStream.Play.Stop (or NetStream.Play.Complete): playback ended."""


@attrs.frozen(kw_only=True)
class StreamPublished(StatusReceived):
    """NetStream.Play.PublishNotify: a publisher started on the stream being played."""


@attrs.frozen(kw_only=True)
class StreamUnpublished(StatusReceived):
    """NetStream.Play.UnpublishNotify: the publisher of the stream being played left."""


@attrs.frozen(kw_only=True)
class ReconnectRequested(StatusReceived):
    """NetConnection.Connect.ReconnectRequest: reconnect, to ``tc_url`` if given."""

    tc_url: str | None = None


@attrs.frozen(kw_only=True)
class StreamBegun(Event):
    """User Control StreamBegin: ``stream_id`` is ready."""

    stream_id: int


@attrs.frozen(kw_only=True)
class StreamEnded(Event):
    """User Control StreamEOF: playback of ``stream_id`` ended."""

    stream_id: int


@attrs.frozen(kw_only=True)
class StreamDried(Event):
    """User Control StreamDry: no data on ``stream_id`` for now."""

    stream_id: int


@attrs.frozen(kw_only=True)
class StreamRecorded(Event):
    """User Control StreamIsRecorded: ``stream_id`` is a recorded stream."""

    stream_id: int
