"""Typed RTMP messages and their codecs.

The chunk layer (:mod:`trio_rtmp.core.chunks`) carries untyped
:class:`~trio_rtmp.core.chunks.Message` tuples.  This module turns them into frozen,
typed values and back:

=========  ==============================  =============================================
type id    message                         value
=========  ==============================  =============================================
1          Set Chunk Size                  :class:`SetChunkSize`
2          Abort                           :class:`Abort`
3          Acknowledgement                 :class:`Acknowledgement`
4          User Control                    :class:`StreamBegin`, :class:`StreamEOF`,
                                           :class:`StreamDry`, :class:`SetBufferLength`,
                                           :class:`StreamIsRecorded`,
                                           :class:`PingRequest`, :class:`PingResponse`,
                                           :class:`UnknownUserControl`
5          Window Acknowledgement Size     :class:`WindowAckSize`
6          Set Peer Bandwidth              :class:`SetPeerBandwidth`
8 / 9      audio / video                   :class:`Audio` / :class:`Video` (FLV tag body)
15 / 18    data (AMF3 / AMF0)              :class:`Data` (``amf3`` tells which)
16 / 19    shared object (AMF3 / AMF0)     :class:`SharedObject` (kept raw)
17 / 20    command (AMF3 / AMF0)           :class:`Command` (``amf3`` tells which)
22         aggregate                       :class:`Aggregate` (split into sub-messages)
other      anything else                   :class:`UnknownMessage` (kept raw, not an error)
=========  ==============================  =============================================

Every value carries the envelope of its message: ``timestamp`` (32-bit milliseconds)
and ``message_stream_id``.  :func:`decode_message` and :func:`encode_message` are exact
inverses for every value they produce.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, TypeAlias

import attrs

from . import amf0
from .chunks import Message
from .config import DEFAULT_LIMITS, Limits
from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "AMF_TYPES",
    "Abort",
    "Acknowledgement",
    "Aggregate",
    "Audio",
    "Command",
    "Data",
    "LimitType",
    "MessageType",
    "PingRequest",
    "PingResponse",
    "RTMPMessage",
    "SetBufferLength",
    "SetChunkSize",
    "SetPeerBandwidth",
    "SharedObject",
    "StreamBegin",
    "StreamDry",
    "StreamEOF",
    "StreamIsRecorded",
    "UnknownMessage",
    "UnknownUserControl",
    "UserControlEvent",
    "Video",
    "WindowAckSize",
    "decode_message",
    "default_chunk_stream_id",
    "encode_message",
]


class MessageType(enum.IntEnum):
    """RTMP message type ids."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(enum.IntEnum):
    """User Control event types (message type 4)."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7
    # Not in the specification, but sent by Flash Media Server and seen in the wild.
    BUFFER_EMPTY = 31
    BUFFER_READY = 32


class LimitType(enum.IntEnum):
    """The limit type of Set Peer Bandwidth."""

    HARD = 0
    SOFT = 1
    DYNAMIC = 2


def _u32(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise LocalProtocolError(f"{attribute.name} must be a 32-bit unsigned int, not {value!r}")


def _u8(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFF:
        raise LocalProtocolError(f"{attribute.name} must fit a byte, not {value!r}")


def _u16(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        raise LocalProtocolError(f"{attribute.name} must fit 16 bits, not {value!r}")


def _chunk_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 0x7FFFFFFF:
        raise LocalProtocolError(f"chunk size must be in 1..0x7FFFFFFF, not {value!r}")


def _chunk_stream_id(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65599:
        raise LocalProtocolError(f"chunk stream id must be in 0..65599, not {value!r}")


def _as_bytes(value: bytes | bytearray | memoryview) -> bytes:
    return value if type(value) is bytes else bytes(value)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if type(value) is tuple else tuple(value)


@attrs.frozen(kw_only=True)
class _Envelope:
    #: The message timestamp: 32-bit milliseconds, wrapping.
    timestamp: int = attrs.field(default=0, validator=_u32)
    #: The message stream (0 is the NetConnection).
    message_stream_id: int = attrs.field(default=0, validator=_u32)


@attrs.frozen(kw_only=True)
class SetChunkSize(_Envelope):
    """Set Chunk Size (1): the sender's chunks are ``chunk_size`` bytes from now on."""

    chunk_size: int = attrs.field(validator=_chunk_size)


@attrs.frozen(kw_only=True)
class Abort(_Envelope):
    """Abort (2): discard the partly received message on ``chunk_stream_id``."""

    chunk_stream_id: int = attrs.field(validator=_chunk_stream_id)


@attrs.frozen(kw_only=True)
class Acknowledgement(_Envelope):
    """Acknowledgement (3): the sender has received ``sequence_number`` bytes (wrapping)."""

    sequence_number: int = attrs.field(validator=_u32)


@attrs.frozen(kw_only=True)
class WindowAckSize(_Envelope):
    """Window Acknowledgement Size (5): acknowledge every ``window_size`` bytes."""

    window_size: int = attrs.field(validator=_u32)


@attrs.frozen(kw_only=True)
class SetPeerBandwidth(_Envelope):
    """Set Peer Bandwidth (6): limit the receiver's output window.

    ``limit_type`` is a :class:`LimitType` value; other values are kept as ints.
    """

    window_size: int = attrs.field(validator=_u32)
    limit_type: int = attrs.field(default=int(LimitType.DYNAMIC), validator=_u8)


@attrs.frozen(kw_only=True)
class _StreamEvent(_Envelope):
    #: The message stream the event is about.
    stream_id: int = attrs.field(validator=_u32)


@attrs.frozen(kw_only=True)
class StreamBegin(_StreamEvent):
    """User Control StreamBegin (0): ``stream_id`` is ready to carry media."""


@attrs.frozen(kw_only=True)
class StreamEOF(_StreamEvent):
    """User Control StreamEOF (1): playback of ``stream_id`` has ended."""


@attrs.frozen(kw_only=True)
class StreamDry(_StreamEvent):
    """User Control StreamDry (2): no more data on ``stream_id`` for now."""


@attrs.frozen(kw_only=True)
class StreamIsRecorded(_StreamEvent):
    """User Control StreamIsRecorded (4): ``stream_id`` is a recorded stream."""


@attrs.frozen(kw_only=True)
class SetBufferLength(_StreamEvent):
    """User Control SetBufferLength (3): the client buffers ``buffer_length`` ms."""

    buffer_length: int = attrs.field(validator=_u32)


@attrs.frozen(kw_only=True)
class PingRequest(_Envelope):
    """User Control PingRequest (6): answer with a PingResponse carrying ``ping_time``."""

    ping_time: int = attrs.field(validator=_u32)


@attrs.frozen(kw_only=True)
class PingResponse(_Envelope):
    """User Control PingResponse (7): the answer to a PingRequest."""

    ping_time: int = attrs.field(validator=_u32)


@attrs.frozen(kw_only=True)
class UnknownUserControl(_Envelope):
    """A User Control event this module has no type for (e.g. 31 BufferEmpty), kept raw."""

    event_type: int = attrs.field(validator=_u16)
    data: bytes = attrs.field(default=b"", converter=_as_bytes)


@attrs.frozen(kw_only=True)
class Command(_Envelope):
    """A command (20, or 17 when ``amf3``): ``connect``, ``play``, ``_result``, ``onStatus``...

    The body is the command name, the transaction id, the command object and any
    further arguments, all AMF values (see :mod:`trio_rtmp.core.amf`).
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    transaction_id: float = 0.0
    command_object: Any = None
    arguments: tuple[Any, ...] = attrs.field(default=(), converter=_as_tuple)
    amf3: bool = False


@attrs.frozen(kw_only=True)
class Data(_Envelope):
    """A data message (18, or 15 when ``amf3``): e.g. ``@setDataFrame``/``onMetaData``."""

    values: tuple[Any, ...] = attrs.field(default=(), converter=_as_tuple)
    amf3: bool = False


@attrs.frozen(kw_only=True)
class SharedObject(_Envelope):
    """A shared object message (19, or 16 when ``amf3``), kept as its raw body."""

    payload: bytes = attrs.field(default=b"", converter=_as_bytes)
    amf3: bool = False


@attrs.frozen(kw_only=True)
class Audio(_Envelope):
    """An audio message (8): its body is an FLV audio tag body."""

    payload: bytes = attrs.field(converter=_as_bytes)


@attrs.frozen(kw_only=True)
class Video(_Envelope):
    """A video message (9): its body is an FLV video tag body."""

    payload: bytes = attrs.field(converter=_as_bytes)


@attrs.frozen(kw_only=True)
class UnknownMessage(_Envelope):
    """A message of a type this module does not know, passed up unchanged."""

    type_id: int = attrs.field(validator=_u8)
    payload: bytes = attrs.field(default=b"", converter=_as_bytes)


@attrs.frozen(kw_only=True)
class Aggregate(_Envelope):
    """An aggregate message (22): several audio, video or data messages in one.

    ``messages`` hold the sub-messages with absolute timestamps: the first one's is
    the aggregate's own, the others keep their distance from the first (re-based as
    the specification says).  Encoding writes the sub-messages' timestamps as they are.
    """

    messages: tuple[RTMPMessage, ...] = attrs.field(default=(), converter=_as_tuple)


#: Every typed message value.
RTMPMessage: TypeAlias = (
    SetChunkSize
    | Abort
    | Acknowledgement
    | WindowAckSize
    | SetPeerBandwidth
    | StreamBegin
    | StreamEOF
    | StreamDry
    | StreamIsRecorded
    | SetBufferLength
    | PingRequest
    | PingResponse
    | UnknownUserControl
    | Command
    | Data
    | SharedObject
    | Audio
    | Video
    | Aggregate
    | UnknownMessage
)

# ---------------------------------------------------------------------------
# Decoding

_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_PEER_BANDWIDTH = struct.Struct(">IB")
_EVENT = struct.Struct(">HI")
_BUFFER_LENGTH = struct.Struct(">HII")
# Aggregate sub-message header: type, 24-bit size, 24-bit timestamp + 8-bit high byte,
# 24-bit stream id (FLV tag header layout).
_TAG_HEADER = struct.Struct(">BHBHBBHB")
_TAG_HEADER_SIZE = 11


def _short(message: Message, need: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"message type {message.type_id} needs {need} bytes, got {len(message.payload)}"
    )


def _u32_body(message: Message) -> int:
    if len(message.payload) < 4:
        raise _short(message, 4)
    value: int = _U32.unpack_from(message.payload)[0]
    return value


def _decode_user_control(message: Message, envelope: dict[str, int]) -> RTMPMessage:
    payload = message.payload
    if len(payload) < 2:
        raise _short(message, 2)
    event = _U16.unpack_from(payload)[0]
    cls = _STREAM_EVENTS.get(event)
    if cls is not None:
        if len(payload) < 6:
            raise _short(message, 6)
        return cls(stream_id=_EVENT.unpack_from(payload)[1], **envelope)
    if event == UserControlEvent.SET_BUFFER_LENGTH:
        if len(payload) < 10:
            raise _short(message, 10)
        _, stream_id, length = _BUFFER_LENGTH.unpack_from(payload)
        return SetBufferLength(stream_id=stream_id, buffer_length=length, **envelope)
    if event in (UserControlEvent.PING_REQUEST, UserControlEvent.PING_RESPONSE):
        if len(payload) < 6:
            raise _short(message, 6)
        ping_cls = PingRequest if event == UserControlEvent.PING_REQUEST else PingResponse
        return ping_cls(ping_time=_EVENT.unpack_from(payload)[1], **envelope)
    return UnknownUserControl(event_type=event, data=payload[2:], **envelope)


_STREAM_EVENTS: dict[int, type[StreamBegin | StreamEOF | StreamDry | StreamIsRecorded]] = {
    UserControlEvent.STREAM_BEGIN: StreamBegin,
    UserControlEvent.STREAM_EOF: StreamEOF,
    UserControlEvent.STREAM_DRY: StreamDry,
    UserControlEvent.STREAM_IS_RECORDED: StreamIsRecorded,
}


def _amf_body(message: Message, amf3: bool, limits: Limits) -> bytes:
    payload = message.payload
    if len(payload) > limits.max_amf_message_size:
        raise RemoteProtocolError(
            f"an AMF message of {len(payload)} bytes exceeds the limit of "
            f"{limits.max_amf_message_size}"
        )
    # AMF3 command and data messages start with a format selector byte (0); the
    # values that follow are AMF0, switching to AMF3 with the AVM+ marker.
    if amf3 and payload[:1] == b"\x00":
        return payload[1:]
    return payload


def _decode_command(message: Message, envelope: dict[str, int], limits: Limits) -> Command:
    amf3 = message.type_id == MessageType.COMMAND_AMF3
    values = amf0.decode(_amf_body(message, amf3, limits), limits=limits)
    if not values or type(values[0]) is not str:
        raise RemoteProtocolError("a command message must start with the command name")
    name = values[0]
    transaction_id = values[1] if len(values) > 1 else 0.0
    if type(transaction_id) is not float:
        raise RemoteProtocolError(f"command {name!r} has a non-numeric transaction id")
    return Command(
        name=name,
        transaction_id=transaction_id,
        command_object=values[2] if len(values) > 2 else None,
        arguments=tuple(values[3:]),
        amf3=amf3,
        **envelope,
    )


def split_aggregate(
    message: Message, *, max_messages: int = DEFAULT_LIMITS.max_aggregate_messages
) -> list[Message]:
    """The sub-messages of an aggregate ``message`` (type 22), undecoded.

    Each keeps the aggregate's chunk stream and message stream and gets its
    timestamp re-based as :class:`Aggregate` describes.  For a program that wants the
    raw messages (to relay them, say) without decoding them; :func:`decode_message`
    decodes them too.  Raises :class:`~trio_rtmp.core.errors.RemoteProtocolError` for
    a sub-message that runs past the end, for a nested aggregate and for more than
    ``max_messages`` sub-messages.
    """
    payload = message.payload
    view = memoryview(payload)
    end = len(payload)
    pos = 0
    parts: list[Message] = []
    first: int | None = None
    while pos < end:
        if len(parts) == max_messages:
            raise RemoteProtocolError(f"more than {max_messages} messages in an aggregate")
        if pos + _TAG_HEADER_SIZE > end:
            raise RemoteProtocolError("aggregate message ends inside a sub-message header")
        type_id, size_high, size_low, ts_high, ts_low, ts_ext, _, _ = _TAG_HEADER.unpack_from(
            payload, pos
        )
        size = (size_high << 8) | size_low
        timestamp = (ts_ext << 24) | (ts_high << 8) | ts_low
        body_start = pos + _TAG_HEADER_SIZE
        if body_start + size > end:
            raise RemoteProtocolError(
                f"aggregate sub-message of {size} bytes runs past the aggregate's end"
            )
        if type_id == MessageType.AGGREGATE:
            raise RemoteProtocolError("aggregate messages may not nest")
        if first is None:
            first = timestamp
        parts.append(
            Message(
                message.chunk_stream_id,
                type_id,
                (message.timestamp + timestamp - first) & 0xFFFFFFFF,
                message.message_stream_id,
                view[body_start : body_start + size].tobytes(),
            )
        )
        # The back pointer (previous tag size) follows; the last one is sometimes left out.
        pos = body_start + size + 4
    return parts


#: The message types whose bodies are AMF, decoded value by value.
AMF_TYPES = frozenset(
    {
        MessageType.DATA_AMF3,
        MessageType.COMMAND_AMF3,
        MessageType.DATA_AMF0,
        MessageType.COMMAND_AMF0,
    }
)


def _decode_aggregate(message: Message, limits: Limits) -> Aggregate:
    parts = split_aggregate(message, max_messages=limits.max_aggregate_messages)
    # One aggregate may hold many AMF messages, each under the limit; the limit bounds
    # the time one message's decoding takes, so it counts them all together.
    amf_bytes = sum(len(sub.payload) for sub in parts if sub.type_id in AMF_TYPES)
    if amf_bytes > limits.max_amf_message_size:
        raise RemoteProtocolError(
            f"the AMF messages in an aggregate total {amf_bytes} bytes, over the limit of "
            f"{limits.max_amf_message_size}"
        )
    return Aggregate(
        messages=tuple(decode_message(sub, limits=limits) for sub in parts),
        timestamp=message.timestamp,
        message_stream_id=message.message_stream_id,
    )


def decode_message(message: Message, *, limits: Limits = DEFAULT_LIMITS) -> RTMPMessage:
    """The typed value of ``message``.

    Raises :class:`~trio_rtmp.core.errors.RemoteProtocolError` for a body that does not
    parse.  An unknown type is not an error: it comes back as :class:`UnknownMessage`.
    """
    type_id = message.type_id
    envelope = {"timestamp": message.timestamp, "message_stream_id": message.message_stream_id}
    if type_id == MessageType.VIDEO:
        return Video(payload=message.payload, **envelope)
    if type_id == MessageType.AUDIO:
        return Audio(payload=message.payload, **envelope)
    if type_id == MessageType.COMMAND_AMF0 or type_id == MessageType.COMMAND_AMF3:
        return _decode_command(message, envelope, limits)
    if type_id == MessageType.DATA_AMF0 or type_id == MessageType.DATA_AMF3:
        amf3 = type_id == MessageType.DATA_AMF3
        values = amf0.decode(_amf_body(message, amf3, limits), limits=limits)
        return Data(values=tuple(values), amf3=amf3, **envelope)
    if type_id == MessageType.USER_CONTROL:
        return _decode_user_control(message, envelope)
    if type_id == MessageType.ACKNOWLEDGEMENT:
        return Acknowledgement(sequence_number=_u32_body(message), **envelope)
    if type_id == MessageType.WINDOW_ACK_SIZE:
        return WindowAckSize(window_size=_u32_body(message), **envelope)
    if type_id == MessageType.SET_PEER_BANDWIDTH:
        if len(message.payload) < 5:
            raise _short(message, 5)
        size, limit = _PEER_BANDWIDTH.unpack_from(message.payload)
        return SetPeerBandwidth(window_size=size, limit_type=limit, **envelope)
    if type_id == MessageType.SET_CHUNK_SIZE:
        size = _u32_body(message)
        if not 1 <= size <= 0x7FFFFFFF:
            raise RemoteProtocolError(f"illegal chunk size {size:#x}")
        return SetChunkSize(chunk_size=size, **envelope)
    if type_id == MessageType.ABORT:
        csid = _u32_body(message)
        if csid > 65599:
            raise RemoteProtocolError(f"Abort of chunk stream {csid}, which cannot exist")
        return Abort(chunk_stream_id=csid, **envelope)
    if type_id == MessageType.AGGREGATE:
        return _decode_aggregate(message, limits)
    if type_id == MessageType.SHARED_OBJECT_AMF0 or type_id == MessageType.SHARED_OBJECT_AMF3:
        return SharedObject(
            payload=message.payload,
            amf3=type_id == MessageType.SHARED_OBJECT_AMF3,
            **envelope,
        )
    return UnknownMessage(type_id=type_id, payload=message.payload, **envelope)


# ---------------------------------------------------------------------------
# Encoding


def _encode_body(value: RTMPMessage) -> tuple[int, bytes]:
    if isinstance(value, Video):
        return MessageType.VIDEO, value.payload
    if isinstance(value, Audio):
        return MessageType.AUDIO, value.payload
    if isinstance(value, Command):
        body = amf0.encode(value.name, value.transaction_id, value.command_object, *value.arguments)
        if value.amf3:
            return MessageType.COMMAND_AMF3, b"\x00" + body
        return MessageType.COMMAND_AMF0, body
    if isinstance(value, Data):
        body = amf0.encode(*value.values)
        if value.amf3:
            return MessageType.DATA_AMF3, b"\x00" + body
        return MessageType.DATA_AMF0, body
    if isinstance(value, _StreamEvent):
        if isinstance(value, SetBufferLength):
            return MessageType.USER_CONTROL, _BUFFER_LENGTH.pack(
                UserControlEvent.SET_BUFFER_LENGTH, value.stream_id, value.buffer_length
            )
        event = _EVENT_OF[type(value)]
        return MessageType.USER_CONTROL, _EVENT.pack(event, value.stream_id)
    if isinstance(value, PingRequest):
        return MessageType.USER_CONTROL, _EVENT.pack(UserControlEvent.PING_REQUEST, value.ping_time)
    if isinstance(value, PingResponse):
        return MessageType.USER_CONTROL, _EVENT.pack(
            UserControlEvent.PING_RESPONSE, value.ping_time
        )
    if isinstance(value, UnknownUserControl):
        return MessageType.USER_CONTROL, _U16.pack(value.event_type) + value.data
    if isinstance(value, Acknowledgement):
        return MessageType.ACKNOWLEDGEMENT, _U32.pack(value.sequence_number)
    if isinstance(value, WindowAckSize):
        return MessageType.WINDOW_ACK_SIZE, _U32.pack(value.window_size)
    if isinstance(value, SetPeerBandwidth):
        return MessageType.SET_PEER_BANDWIDTH, _PEER_BANDWIDTH.pack(
            value.window_size, value.limit_type
        )
    if isinstance(value, SetChunkSize):
        return MessageType.SET_CHUNK_SIZE, _U32.pack(value.chunk_size)
    if isinstance(value, Abort):
        return MessageType.ABORT, _U32.pack(value.chunk_stream_id)
    if isinstance(value, SharedObject):
        kind = MessageType.SHARED_OBJECT_AMF3 if value.amf3 else MessageType.SHARED_OBJECT_AMF0
        return kind, value.payload
    if isinstance(value, Aggregate):
        return MessageType.AGGREGATE, _encode_aggregate(value)
    if isinstance(value, UnknownMessage):
        return value.type_id, value.payload
    raise LocalProtocolError(f"not an RTMP message value: {value!r}")


_EVENT_OF: dict[type[_StreamEvent], int] = {cls: event for event, cls in _STREAM_EVENTS.items()}


def _encode_aggregate(value: Aggregate) -> bytes:
    out = []
    for sub in value.messages:
        if isinstance(sub, Aggregate):
            raise LocalProtocolError("aggregate messages may not nest")
        type_id, body = _encode_body(sub)
        if len(body) > 0xFFFFFF:
            raise LocalProtocolError("aggregate sub-message over 16 MiB")
        size = len(body)
        ts = sub.timestamp
        out.append(
            _TAG_HEADER.pack(
                type_id, size >> 8, size & 0xFF, (ts >> 8) & 0xFFFF, ts & 0xFF, ts >> 24, 0, 0
            )
        )
        out.append(body)
        out.append(_U32.pack(size + _TAG_HEADER_SIZE))
    return b"".join(out)


def encode_message(value: RTMPMessage, *, chunk_stream_id: int | None = None) -> Message:
    """The untyped message for ``value``, ready for a :class:`~.chunks.ChunkWriter`.

    ``chunk_stream_id`` defaults to :func:`default_chunk_stream_id`.
    """
    type_id, body = _encode_body(value)
    if chunk_stream_id is None:
        chunk_stream_id = default_chunk_stream_id(value)
    return Message(chunk_stream_id, type_id, value.timestamp, value.message_stream_id, body)


def default_chunk_stream_id(value: RTMPMessage) -> int:
    """The chunk stream FFmpeg-like peers use for this kind of message.

    2 for protocol control and User Control, 3 for commands on the NetConnection,
    5 for commands and data on a NetStream, 4 for audio, 6 for video.
    """
    if isinstance(value, Video | Aggregate):
        return 6
    if isinstance(value, Audio):
        return 4
    if isinstance(value, Command | SharedObject):
        return 3 if value.message_stream_id == 0 else 5
    if isinstance(value, Data):
        return 5
    if isinstance(value, UnknownMessage):
        return 7
    return 2
