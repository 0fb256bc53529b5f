"""The RTMP connection state machines: :class:`ClientConnection` and :class:`ServerConnection`.

Sans-IO, after h11: feed the bytes you receive to :meth:`~_Connection.receive_data`,
act on the :mod:`events <trio_rtmp.core.events>` it returns, call methods for what
you want to do, and send whatever :meth:`~_Connection.data_to_send` returns.  Empty
bytes passed to ``receive_data`` mean the peer closed the connection.

``receive_data`` handles everything the bytes completed at once.  An event loop that
serves many peers can take it in steps instead: :meth:`~_Connection.feed_data`, then
:meth:`~_Connection.next_events` while :attr:`~_Connection.has_pending_input`, yielding
to its other tasks in between.  Each step decodes at most ``max_amf_message_size``
bytes of AMF, the one part of a message that costs CPU by its content (see
:class:`~trio_rtmp.core.config.Limits`), so a peer that completes many AMF messages
with one read cannot hold the loop for long.

The connection runs the handshake, the chunk stream and RTMP's housekeeping by
itself: it acknowledges the bytes it receives whenever the peer's window is crossed,
answers pings, applies the peer's chunk size to reading only, announces its own
outbound chunk size, and matches ``_result``/``_error`` replies to requests.

Everything RTMP *means* lives here: a server connection answers ``connect``,
``createStream``, ``publish``, ``play`` and the rest as nginx-rtmp and FMS do, and
asks the application only where a decision is needed (accept or reject a connect, a
publish, a play).  A client connection speaks as FFmpeg does.

A method the state does not allow (``play`` before ``connect``, ``stop_play`` on a
stream being published...) raises :class:`~trio_rtmp.core.errors.LocalProtocolError`
and has no effect: nothing is queued to send and no state changes.

The state machines are the tables of :mod:`trio_rtmp.core._state`.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import attrs

from . import amf0
from . import messages as msg
from ._state import (
    ENDED_STATES,
    MEDIA_STATES,
    ConnectionInput,
    ConnectionState,
    StreamInput,
    StreamState,
    next_connection_state,
    next_stream_state,
)
from .amf import UNDEFINED, ECMAArray
from .chunks import ChunkReader, ChunkWriter, Message
from .config import DEFAULT_LIMITS, Limits
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    AcknowledgementReceived,
    AudioData,
    BufferLengthSet,
    CommandError,
    CommandReceived,
    CommandResult,
    Connected,
    ConnectionClosed,
    ConnectRejected,
    ConnectRequest,
    DataReceived,
    DataTooLarge,
    Event,
    HandshakeComplete,
    MessageReceived,
    PingResponseReceived,
    PlayPaused,
    PlayRejected,
    PlayRequest,
    PlayStarted,
    PlayStopped,
    PublishRejected,
    PublishRequest,
    PublishStarted,
    ReconnectRequested,
    StatusReceived,
    StreamBegun,
    StreamClosed,
    StreamCreated,
    StreamDeleted,
    StreamDried,
    StreamEnded,
    StreamMetadata,
    StreamPublished,
    StreamRecorded,
    StreamUnpublished,
    UnmatchedReply,
    VideoData,
)
from .handshake import ClientHandshake, ServerHandshake

__all__ = [
    "CONTROL_CHUNK_STREAM",
    "AUDIO_CHUNK_STREAM",
    "COMMAND_CHUNK_STREAM",
    "STREAM_COMMAND_CHUNK_STREAM",
    "VIDEO_CHUNK_STREAM",
    "CapsEx",
    "ClientConnection",
    "ConnectionConfig",
    "FourCcInfo",
    "ServerConnection",
]

logger = logging.getLogger(__name__)

#: Chunk streams we write on (the ids FFmpeg and nginx-rtmp use).
CONTROL_CHUNK_STREAM = 2
COMMAND_CHUNK_STREAM = 3
AUDIO_CHUNK_STREAM = 4
STREAM_COMMAND_CHUNK_STREAM = 5
VIDEO_CHUNK_STREAM = 6
DATA_CHUNK_STREAM = 5


class FourCcInfo:
    """Enhanced RTMP v2 FourCC capability bits (videoFourCcInfoMap / audioFourCcInfoMap)."""

    CAN_DECODE = 1
    CAN_ENCODE = 2
    CAN_FORWARD = 4


class CapsEx:
    """Enhanced RTMP v2 ``capsEx`` bits."""

    RECONNECT = 1
    MULTITRACK = 2
    MODEX = 4
    TIMESTAMP_NANO_OFFSET = 8


# Audio, video, data (AMF3, AMF0) and aggregate messages.
_STREAM_ZERO_MEDIA = frozenset({8, 9, 15, 18, 22})
# The messages whose handling may decode AMF: commands, data, and aggregates of them.
_AMF_OR_AGGREGATE = msg.AMF_TYPES | {22}


def _amf_cost(message: Message, limit: int) -> int:
    """How much AMF handling ``message`` may decode, at most ``limit`` (the AMF limit).

    Commands and data cost their size, aggregates theirs up to the limit (their AMF
    messages share it); a data message over the limit costs nothing (it is passed up
    undecoded), a command over it the limit (it is an error); media cost nothing.
    """
    type_id = message.type_id
    if type_id in _AMF_OR_AGGREGATE:
        size = len(message.payload)
        if size <= limit:
            return size
        return 0 if type_id == 18 or type_id == 15 else limit
    return 0


_VIDEO_FOURCCS = ("avc1", "hvc1", "av01", "vp09", "vp08", "vvc1")
_AUDIO_FOURCCS = ("mp4a", ".mp3", "Opus", "fLaC", "ac-3", "ec-3")
_ALL_CAPS = FourCcInfo.CAN_DECODE | FourCcInfo.CAN_ENCODE | FourCcInfo.CAN_FORWARD


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


@attrs.frozen(kw_only=True)
class ConnectionConfig:
    """How a connection behaves: limits, window sizes, what it announces.

    The defaults are what FFmpeg and nginx-rtmp use or accept.
    """

    #: Resource limits for everything the peer sends.
    limits: Limits = DEFAULT_LIMITS
    #: Our outbound chunk size, announced with Set Chunk Size (1..0x7FFFFFFF).
    chunk_size: int = attrs.field(default=4096, validator=_positive)
    #: The Window Acknowledgement Size we ask the peer to acknowledge by.
    window_ack_size: int = attrs.field(default=2_500_000, validator=_positive)
    #: The Set Peer Bandwidth a server sends (a dynamic limit).
    peer_bandwidth: int = attrs.field(default=2_500_000, validator=_positive)
    #: Most message streams one connection may have at once (server role).
    max_message_streams: int = attrs.field(default=16, validator=_positive)
    #: Most messages a server holds while the application decides on ``connect``.
    #: Together they may also hold at most ``limits.max_buffered_bytes`` bytes, and
    #: ``limits.max_amf_message_size`` bytes of commands and data (``accept_connect``
    #: decodes them all at once).
    max_deferred_messages: int = attrs.field(default=64, validator=_positive)
    #: Use the digest ("complex") handshake: the client sends a digest C1, the server
    #: answers a digest C1 with a digest S1.
    digest_handshake: bool = True
    #: What a server reports as ``fmsVer`` in the connect ``_result``.
    fms_version: str = "FMS/3,0,1,123"
    #: What a client reports as ``flashVer`` in ``connect``.
    flash_version: str = "FMLE/3.0 (compatible; trio-rtmp)"
    #: Announce (client) and echo (server) the Enhanced RTMP capabilities.
    enhanced_rtmp: bool = True
    #: The Enhanced RTMP video and audio FourCCs we handle.
    video_fourccs: tuple[str, ...] = _VIDEO_FOURCCS
    audio_fourccs: tuple[str, ...] = _AUDIO_FOURCCS
    #: Enhanced RTMP ``capsEx`` we announce.
    caps_ex: int = CapsEx.RECONNECT | CapsEx.MULTITRACK | CapsEx.MODEX


def _status(level: str, code: str, description: str, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"level": level, "code": code, "description": description}
    info.update(extra)
    return info


def _info_field(info: Any, name: str) -> str:
    if isinstance(info, dict):
        value = info.get(name)
        if isinstance(value, str):
            return value
    return ""


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return float(value)
    return default


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class _Stream:
    """What a connection knows about one of its message streams."""

    __slots__ = ("amf3", "name", "paused", "state")

    def __init__(self) -> None:
        self.state = StreamState.IDLE
        self.name = ""
        # A playing stream the player paused.
        self.paused = False
        # Answer the stream's commands in the encoding they came in.
        self.amf3 = False


class _Connection:
    """What both roles share: handshake, chunk stream, housekeeping, transactions."""

    _role = "connection"

    def __init__(
        self,
        handshake: ClientHandshake | ServerHandshake,
        config: ConnectionConfig,
    ) -> None:
        self._config = config
        self._handshake: ClientHandshake | ServerHandshake | None = handshake
        self._reader = ChunkReader(limits=config.limits)
        # The writer starts at the default chunk size; announcing ours switches it.
        self._writer = ChunkWriter()
        self._handshake_out = b""
        self._state = ConnectionState.HANDSHAKING
        self._streams: dict[int, _Stream] = {}
        # Acknowledgements: bytes received since the handshake, the count at our last
        # Acknowledgement, and the window the peer asked us to acknowledge by.
        self._received = 0
        self._acked = 0
        self._ack_window: int | None = None
        # The window we announced and the limit the peer set on us.
        self._window_sent: int | None = None
        self._peer_bandwidth: int | None = None
        self._peer_limit_type: int | None = None
        # Our requests awaiting _result/_error: transaction id -> command name.
        self._next_transaction = 1
        self._pending: dict[float, str] = {}
        # Whether the NetConnection speaks AMF3 (objectEncoding 3).
        self._amf3 = False
        # Input fed but not handled yet (see next_events): the handshake's events, the
        # messages read, and whether the peer closed after them.
        self._ready: list[Event] = []
        self._inbox: deque[Message] = deque()
        self._eof = False
        self._fed = False
        # Messages handled so far (each of an aggregate's too).
        self._handled = 0

    # -- public state -----------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The NetConnection state."""
        return self._state

    @property
    def config(self) -> ConnectionConfig:
        """The configuration this connection was made with."""
        return self._config

    def stream_state(self, stream_id: int) -> StreamState:
        """The state of message stream ``stream_id`` (DELETED if it does not exist)."""
        stream = self._streams.get(stream_id)
        return stream.state if stream is not None else StreamState.DELETED

    @property
    def stream_ids(self) -> list[int]:
        """The message streams that exist now."""
        return sorted(self._streams)

    @property
    def bytes_received(self) -> int:
        """Bytes received after the handshake (not wrapped)."""
        return self._received

    @property
    def input_steps(self) -> int:
        """What the peer's input has cost so far, in steps of work.

        One per message handled (each message of an aggregate too, and messages that
        make no event, such as pings or media for a stream that is not publishing),
        plus the chunk reader's
        :attr:`~trio_rtmp.core.chunks.ChunkReader.chunk_steps`.  A rate limit on a
        peer's CPU use counts these (the Trio server's ``max_message_rate`` does):
        however the peer cuts its input, each step is a bounded amount of work.
        """
        return self._handled + self._reader.chunk_steps

    @property
    def peer_chunk_size(self) -> int:
        """The chunk size the peer writes with."""
        return self._reader.chunk_size

    @property
    def chunk_size(self) -> int:
        """The chunk size we write with (changes once we announce ours)."""
        return self._writer.chunk_size

    @property
    def peer_bandwidth(self) -> int | None:
        """The output window the peer set with Set Peer Bandwidth, if any."""
        return self._peer_bandwidth

    # -- bytes in, bytes out ------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the peer; send it in this order."""
        out = self._handshake_out
        if out:
            self._handshake_out = b""
        if self._handshake is None and self._writer.buffered:
            out += self._writer.data_to_send()
        return out

    @property
    def has_pending_input(self) -> bool:
        """Whether input given to :meth:`feed_data` awaits :meth:`next_events`.

        True from :meth:`feed_data` until a :meth:`next_events` has handled all of it;
        never once the connection is closed or failed (what was left is dropped).
        """
        return self._fed and self._state not in ENDED_STATES

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Process bytes from the peer; ``b""`` means it closed the connection.

        Returns every event they caused: :meth:`feed_data`, then :meth:`next_events`
        while :attr:`has_pending_input`.  A violation raises
        :class:`~trio_rtmp.core.errors.RemoteProtocolError` and leaves the connection
        in ``ERROR`` for good.
        """
        self.feed_data(data)
        events: list[Event] = []
        while self.has_pending_input:
            events += self.next_events()
        return events

    def feed_data(self, data: bytes | bytearray | memoryview) -> None:
        """Take bytes from the peer (``b""``: it closed), to be handled in steps.

        Runs the handshake and the chunk stream at once (a violation there raises
        :class:`~trio_rtmp.core.errors.RemoteProtocolError` here), and leaves the
        messages to :meth:`next_events`: call it while :attr:`has_pending_input`,
        sending :meth:`data_to_send` after each step, before feeding more.  Feeding
        earlier is a :class:`~trio_rtmp.core.errors.LocalProtocolError` (the queue of
        unhandled messages would grow without bound).
        """
        if self._state is ConnectionState.ERROR:
            raise LocalProtocolError(f"the {self._role} connection already failed")
        if self.has_pending_input:
            raise LocalProtocolError(
                f"the {self._role} connection has unhandled input: call next_events() first"
            )
        if self._state is ConnectionState.CLOSED:
            return
        self._fed = True
        if not data:
            self._eof = True
            return
        try:
            if self._handshake is not None:
                data = self._receive_handshake(data, self._ready)
                if not data:
                    return
            self._received += len(data)
            self._inbox.extend(self._reader.receive_data(data))
        except ProtocolError:
            self._state = ConnectionState.ERROR
            raise

    def next_events(self) -> list[Event]:
        """Handle the next of the input fed, and return the events it made.

        Handles messages in order until the command and data messages among them
        would exceed ``max_amf_message_size`` bytes (it always handles at least one),
        so that one step cannot take long however much one read completed.  The list
        may be empty while :attr:`has_pending_input` is still true: not every message
        makes an event.  The last step handles the peer's close, if it closed.  A
        violation raises :class:`~trio_rtmp.core.errors.RemoteProtocolError` and
        leaves the connection in ``ERROR`` for good.
        """
        if self._state is ConnectionState.ERROR:
            raise LocalProtocolError(f"the {self._role} connection already failed")
        inbox = self._inbox
        if self._state is ConnectionState.CLOSED:
            # Closed by us between two steps: nothing more is received.
            self._drop_input()
            return []
        events = self._ready
        self._ready = []
        limit = self._config.limits.max_amf_message_size
        budget = limit
        try:
            handle = self._handle
            while inbox:
                message = inbox.popleft()
                if message.type_id in _AMF_OR_AGGREGATE:
                    cost = _amf_cost(message, limit)
                    if cost > budget:
                        inbox.appendleft(message)
                        break
                    budget -= cost
                handle(message, events)
            window = self._ack_window
            if window is not None and self._received - self._acked >= window:
                self._acked = self._received
                self._send(msg.Acknowledgement(sequence_number=self._received & 0xFFFFFFFF))
        except ProtocolError:
            self._state = ConnectionState.ERROR
            self._drop_input()
            raise
        if not inbox:
            if self._eof:
                self._peer_closed(events)
                self._state = ConnectionState.CLOSED
                events.append(ConnectionClosed())
            self._drop_input()
        return events

    def _drop_input(self) -> None:
        self._ready = []
        self._inbox.clear()
        self._eof = self._fed = False

    def _receive_handshake(
        self, data: bytes | bytearray | memoryview, events: list[Event]
    ) -> bytes:
        handshake = self._handshake
        assert handshake is not None
        handshake.receive_data(bytes(data))
        self._handshake_out += handshake.data_to_send()
        if not handshake.complete:
            return b""
        self._handshake = None
        self._state = next_connection_state(
            self._state, ConnectionInput.HANDSHAKE_DONE, role=self._role, remote=True
        )
        events.append(
            HandshakeComplete(
                peer_uses_digest=handshake.peer_uses_digest,
                peer_version=handshake.peer_version or bytes(4),
            )
        )
        self._handshake_done()
        return handshake.unused_data()

    def _handshake_done(self) -> None:
        """Hook: the handshake has just completed."""

    def _peer_closed(self, events: list[Event]) -> None:
        """Hook: the peer closed; add events for whatever was pending."""

    # -- sending --------------------------------------------------------------

    def _send(self, value: msg.RTMPMessage, chunk_stream_id: int | None = None) -> None:
        self._writer.write(*msg.encode_message(value, chunk_stream_id=chunk_stream_id))

    def _check_open(self, what: str) -> None:
        if self._state in (ConnectionState.CLOSED, ConnectionState.ERROR):
            raise LocalProtocolError(
                f"cannot {what}: the {self._role} connection is {self._state.value}"
            )

    def _check_connected(self, what: str) -> None:
        if self._state is not ConnectionState.CONNECTED:
            raise LocalProtocolError(
                f"cannot {what}: the {self._role} connection is {self._state.value}, not connected"
            )

    def _stream(self, stream_id: int, what: str) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise LocalProtocolError(f"cannot {what}: there is no stream {stream_id}")
        return stream

    def _move(self, stream_id: int, stream: _Stream, event: StreamInput, *, remote: bool) -> None:
        stream.state = next_stream_state(
            stream.state, event, role=self._role, stream_id=stream_id, remote=remote
        )
        # A new play, or none: not paused.
        stream.paused = False

    def _command(
        self,
        name: str,
        transaction_id: float,
        command_object: Any = None,
        *arguments: Any,
        stream_id: int = 0,
        amf3: bool = False,
    ) -> None:
        self._send(
            msg.Command(
                name=name,
                transaction_id=transaction_id,
                command_object=command_object,
                arguments=arguments,
                amf3=amf3,
                message_stream_id=stream_id,
            ),
            COMMAND_CHUNK_STREAM if stream_id == 0 else STREAM_COMMAND_CHUNK_STREAM,
        )

    def _new_transaction(self, name: str) -> float:
        transaction_id = float(self._next_transaction)
        self._next_transaction += 1
        self._pending[transaction_id] = name
        return transaction_id

    def call(self, name: str, command_object: Any = None, *arguments: Any) -> float:
        """Send a command on the NetConnection that expects a reply.

        Returns its transaction id; the reply arrives as :class:`CommandResult` or
        :class:`CommandError`.
        """
        self._check_connected(f"call {name!r}")
        transaction_id = self._new_transaction(name)
        self._command(name, transaction_id, command_object, *arguments, amf3=self._amf3)
        return transaction_id

    def send_command(
        self,
        name: str,
        command_object: Any = None,
        *arguments: Any,
        transaction_id: float = 0.0,
        stream_id: int = 0,
    ) -> None:
        """Send any command (e.g. a reply to a :class:`CommandReceived`) unchecked."""
        self._check_open(f"send {name!r}")
        amf3 = self._streams[stream_id].amf3 if stream_id in self._streams else self._amf3
        self._command(
            name, transaction_id, command_object, *arguments, stream_id=stream_id, amf3=amf3
        )

    def ping(self, ping_time: int) -> None:
        """Send a PingRequest; the peer answers with :class:`PingResponseReceived`.

        ``ping_time`` is any 32-bit value, usually the sender's clock in ms.
        """
        self._check_open("ping")
        self._send(msg.PingRequest(ping_time=ping_time & 0xFFFFFFFF))

    def set_chunk_size(self, chunk_size: int) -> None:
        """Announce and use a new outbound chunk size."""
        self._check_open("set the chunk size")
        self._send(msg.SetChunkSize(chunk_size=chunk_size))

    def send_window_ack_size(self, window_size: int) -> None:
        """Ask the peer to acknowledge every ``window_size`` bytes."""
        self._check_open("send a window size")
        self._window_sent = window_size
        self._send(msg.WindowAckSize(window_size=window_size))

    def send_audio(self, stream_id: int, timestamp: int, payload: bytes) -> None:
        """Send an audio message (an FLV audio tag body) on ``stream_id``."""
        self._check_media(stream_id, "send audio")
        self._writer.write(AUDIO_CHUNK_STREAM, 8, timestamp, stream_id, payload)

    def send_video(self, stream_id: int, timestamp: int, payload: bytes) -> None:
        """Send a video message (an FLV video tag body) on ``stream_id``."""
        self._check_media(stream_id, "send video")
        self._writer.write(VIDEO_CHUNK_STREAM, 9, timestamp, stream_id, payload)

    def send_data_body(self, stream_id: int, body: bytes, timestamp: int = 0) -> None:
        """Send a data message whose AMF0 body is encoded already (an FLV script tag's).

        Nothing is decoded or checked: what a file holds goes out as it is.  On an AMF3
        message stream it goes as an AMF3 data message (the format byte, then ``body``).
        """
        self._check_media(stream_id, "send data")
        if self._streams[stream_id].amf3:
            self._writer.write(DATA_CHUNK_STREAM, 15, timestamp, stream_id, b"\x00" + body)
        else:
            self._writer.write(DATA_CHUNK_STREAM, 18, timestamp, stream_id, body)

    def send_data(self, stream_id: int, values: tuple[Any, ...], timestamp: int = 0) -> None:
        """Send a data message (AMF values such as ``("onCuePoint", {...})``)."""
        self._check_media(stream_id, "send data")
        self._send(
            msg.Data(
                values=values,
                amf3=self._streams[stream_id].amf3,
                timestamp=timestamp,
                message_stream_id=stream_id,
            ),
            DATA_CHUNK_STREAM,
        )

    def close(self) -> None:
        """Mark the connection closed; the caller then closes the transport.

        Nothing more is sent or received.  (A polite client first deletes its streams.)
        """
        if self._state is not ConnectionState.ERROR:
            self._state = next_connection_state(
                self._state, ConnectionInput.CLOSE, role=self._role, remote=False
            )

    def _check_media(self, stream_id: int, what: str) -> None:
        raise NotImplementedError

    # -- receiving --------------------------------------------------------------

    def _handle(self, message: Message, events: list[Event]) -> None:
        self._handled += 1
        type_id = message.type_id
        if type_id == 9 or type_id == 8:
            stream = self._streams.get(message.message_stream_id)
            if stream is not None and stream.state in MEDIA_STATES:
                cls = VideoData if type_id == 9 else AudioData
                events.append(
                    cls(
                        stream_id=message.message_stream_id,
                        timestamp=message.timestamp,
                        payload=message.payload,
                    )
                )
            else:
                self._unexpected_media(message)
            return
        if type_id == 22:
            self._handle_aggregate(message, events)
            return
        too_large = len(message.payload) > self._config.limits.max_amf_message_size
        if too_large and (type_id == 18 or type_id == 15):
            # Not decoded (CPU per value) and not fatal: real metadata can be this big.
            self._data_too_large(message, events)
            return
        self._dispatch(msg.decode_message(message, limits=self._config.limits), events)

    def _handle_aggregate(self, message: Message, events: list[Event]) -> None:
        """Handle the sub-messages of an aggregate as whole messages.

        Decoding AMF costs CPU per value, and one aggregate may carry up to
        ``max_message_size`` of it in messages each under ``max_amf_message_size``:
        decoded at once, that would keep the event loop busy for seconds.  So the AMF
        messages of one aggregate share the one message's limit.  A data message that
        does not fit in what is left is passed up undecoded (:class:`DataTooLarge`); a
        command that does not fit is an error, as a command over the limit is anyway.
        """
        budget = self._config.limits.max_amf_message_size
        limit = self._config.limits.max_aggregate_messages
        for sub in msg.split_aggregate(message, max_messages=limit):
            if sub.type_id in msg.AMF_TYPES:
                if len(sub.payload) > budget:
                    if sub.type_id == 18 or sub.type_id == 15:
                        self._data_too_large(sub, events)
                        continue
                    raise RemoteProtocolError(
                        "the AMF messages of an aggregate exceed the limit of "
                        f"{self._config.limits.max_amf_message_size} bytes"
                    )
                budget -= len(sub.payload)
            self._handle(sub, events)

    def _data_too_large(self, message: Message, events: list[Event]) -> None:
        body = message.payload
        amf3 = message.type_id == 15
        if amf3 and body[:1] == b"\x00":
            body = body[1:]
        events.append(
            DataTooLarge(
                stream_id=message.message_stream_id,
                timestamp=message.timestamp,
                names=amf0.leading_strings(body),
                payload=body,
                amf3=amf3,
            )
        )

    def _unexpected_media(self, message: Message) -> None:
        logger.debug(
            "%s: dropped a type %d message on stream %d, which is not publishing or playing",
            self._role,
            message.type_id,
            message.message_stream_id,
        )

    def _dispatch(self, value: msg.RTMPMessage, events: list[Event]) -> None:
        if isinstance(value, msg.Command):
            self._on_command(value, events)
        elif isinstance(value, msg.Data):
            self._on_data(value, events)
        elif isinstance(value, msg.PingRequest):
            self._send(msg.PingResponse(ping_time=value.ping_time))
        elif isinstance(value, msg.PingResponse):
            events.append(PingResponseReceived(ping_time=value.ping_time))
        elif isinstance(value, msg.Acknowledgement):
            events.append(AcknowledgementReceived(sequence_number=value.sequence_number))
        elif isinstance(value, msg.WindowAckSize):
            self._ack_window = value.window_size or None
        elif isinstance(value, msg.SetPeerBandwidth):
            self._on_peer_bandwidth(value)
        elif isinstance(value, msg.SetChunkSize | msg.Abort):
            pass  # the chunk reader has applied them
        elif isinstance(value, msg.SharedObject | msg.UnknownMessage | msg.UnknownUserControl):
            events.append(MessageReceived(message=value))
        else:
            self._on_user_control(value, events)

    def _on_peer_bandwidth(self, value: msg.SetPeerBandwidth) -> None:
        limit_type = value.limit_type
        if limit_type == msg.LimitType.DYNAMIC:
            # Dynamic acts as Hard if the previous limit was Hard, else it is ignored.
            if self._peer_limit_type != msg.LimitType.HARD:
                return
            limit_type = msg.LimitType.HARD
        if limit_type == msg.LimitType.SOFT and self._peer_bandwidth is not None:
            size = min(self._peer_bandwidth, value.window_size)
        else:
            size = value.window_size
        self._peer_bandwidth = size
        self._peer_limit_type = limit_type
        # The specification asks for a Window Acknowledgement Size in answer when the
        # window differs from the last one we sent.
        if size != self._window_sent:
            self.send_window_ack_size(size)

    def _on_user_control(self, value: msg.RTMPMessage, events: list[Event]) -> None:
        """Hook for StreamBegin, StreamEOF, SetBufferLength and friends."""

    def _on_command(self, command: msg.Command, events: list[Event]) -> None:
        raise NotImplementedError

    def _on_data(self, data: msg.Data, events: list[Event]) -> None:
        values = data.values
        stream_id = data.message_stream_id
        metadata = None
        if len(values) >= 3 and values[0] == "@setDataFrame" and values[1] == "onMetaData":
            metadata = values[2]
        elif len(values) >= 2 and values[0] == "onMetaData":
            metadata = values[1]
        if isinstance(metadata, dict):
            self._on_metadata(stream_id, metadata)
            events.append(
                StreamMetadata(
                    stream_id=stream_id, timestamp=data.timestamp, metadata=dict(metadata)
                )
            )
        elif values and values[0] == "onStatus" and len(values) >= 2:
            self._on_status(stream_id, values[-1], events)
        else:
            events.append(
                DataReceived(stream_id=stream_id, timestamp=data.timestamp, values=values)
            )

    def _on_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
        """Hook: metadata arrived on ``stream_id``."""

    def _on_status(self, stream_id: int, info: Any, events: list[Event]) -> None:
        events.append(
            StatusReceived(
                stream_id=stream_id,
                level=_info_field(info, "level"),
                code=_info_field(info, "code"),
                description=_info_field(info, "description"),
                information=info,
            )
        )

    def _on_reply(self, command: msg.Command, events: list[Event]) -> None:
        request = self._pending.pop(command.transaction_id, None)
        if request is None:
            events.append(UnmatchedReply(command=command))
            return
        self._on_matched_reply(request, command, events)

    def _on_matched_reply(self, request: str, command: msg.Command, events: list[Event]) -> None:
        if command.name == "_result":
            events.append(
                CommandResult(
                    transaction_id=command.transaction_id,
                    request=request,
                    command_object=command.command_object,
                    arguments=command.arguments,
                )
            )
        else:
            info = command.arguments[0] if command.arguments else None
            events.append(
                CommandError(
                    transaction_id=command.transaction_id,
                    request=request,
                    code=_info_field(info, "code"),
                    description=_info_field(info, "description"),
                    information=info,
                )
            )


# ---------------------------------------------------------------------------
# Client


class ClientConnection(_Connection):
    """The client side of an RTMP connection, speaking as FFmpeg does.

    ``random`` (1528 bytes) and ``time`` feed the handshake; the handshake starts at
    once, so :meth:`data_to_send` has C0+C1 right after construction.  Commands asked
    for before the handshake completes are held and sent after C2.

    The usual sequence: :meth:`connect` -> :class:`Connected`; :meth:`create_stream` ->
    :class:`StreamCreated`; :meth:`publish` -> :class:`PublishStarted` or
    :meth:`play` -> :class:`PlayStarted`; media; :meth:`delete_stream`.
    """

    _role = "client"

    def __init__(
        self, *, random: bytes, time: int = 0, config: ConnectionConfig | None = None
    ) -> None:
        config = config or ConnectionConfig()
        handshake = ClientHandshake(random=random, time=time, digest=config.digest_handshake)
        super().__init__(handshake, config)
        handshake.initiate()
        self._handshake_out = handshake.data_to_send()
        self._connect_transaction: float | None = None
        # createStream transactions awaiting their stream id.
        self._creating: set[float] = set()
        # Requests whose replies nobody needs (FFmpeg sends them and moves on).
        self._quiet: set[float] = set()

    def connect(
        self,
        *,
        app: str,
        tc_url: str,
        swf_url: str | None = None,
        page_url: str | None = None,
        flash_version: str | None = None,
        object_encoding: int = 0,
        extra: dict[str, Any] | None = None,
        arguments: tuple[Any, ...] = (),
    ) -> float:
        """Send ``connect`` for ``app``; returns its transaction id.

        The command object has what FFmpeg sends (app, flashVer, tcUrl, swfUrl,
        fpad, capabilities, audioCodecs, videoCodecs, videoFunction, pageUrl,
        objectEncoding) and, unless disabled in the config, the Enhanced RTMP
        fourCcList, videoFourCcInfoMap, audioFourCcInfoMap and capsEx.  ``extra``
        adds or overrides members; ``arguments`` follow the object (some servers
        take credentials there).  Our outbound chunk size is announced first.
        """
        if self._state not in (ConnectionState.HANDSHAKING, ConnectionState.IDLE):
            raise LocalProtocolError(
                f"cannot connect: the client connection is {self._state.value}"
            )
        if object_encoding not in (0, 3):
            raise LocalProtocolError("object_encoding must be 0 (AMF0) or 3 (AMF3)")
        config = self._config
        command_object: dict[str, Any] = {
            "app": app,
            "type": "nonprivate",
            "flashVer": flash_version or config.flash_version,
            "tcUrl": tc_url,
        }
        if swf_url is not None:
            command_object["swfUrl"] = swf_url
        command_object.update(
            {
                "fpad": False,
                "capabilities": 15.0,
                "audioCodecs": 4071.0,
                "videoCodecs": 252.0,
                "videoFunction": 1.0,
            }
        )
        if page_url is not None:
            command_object["pageUrl"] = page_url
        command_object["objectEncoding"] = float(object_encoding)
        if config.enhanced_rtmp:
            command_object["fourCcList"] = list(config.video_fourccs)
            command_object["videoFourCcInfoMap"] = {
                c: float(_ALL_CAPS) for c in config.video_fourccs
            }
            command_object["audioFourCcInfoMap"] = {
                c: float(_ALL_CAPS) for c in config.audio_fourccs
            }
            command_object["capsEx"] = float(config.caps_ex)
        if extra:
            command_object.update(extra)
        if self._state is ConnectionState.IDLE:
            self._state = next_connection_state(
                self._state, ConnectionInput.CONNECT, role=self._role, remote=False
            )
        # (during the handshake the transition happens when it completes)
        self._amf3 = object_encoding == 3
        if config.chunk_size != self._writer.chunk_size:
            # Announce our chunk size first, as FFmpeg does (queued until after C2).
            self._send(msg.SetChunkSize(chunk_size=config.chunk_size))
        transaction_id = self._new_transaction("connect")
        self._connect_transaction = transaction_id
        self._command("connect", transaction_id, command_object, *arguments, amf3=self._amf3)
        return transaction_id

    def _handshake_done(self) -> None:
        if self._connect_transaction is not None:
            # connect() was called during the handshake: its command is queued.
            self._state = next_connection_state(
                self._state, ConnectionInput.CONNECT, role=self._role, remote=False
            )

    def create_stream(self) -> float:
        """Send ``createStream``; the stream id arrives as :class:`StreamCreated`."""
        self._check_connected("create a stream")
        transaction_id = self._new_transaction("createStream")
        self._creating.add(transaction_id)
        self._command("createStream", transaction_id, None, amf3=self._amf3)
        return transaction_id

    def release_stream(self, name: str) -> None:
        """Send ``releaseStream`` (FFmpeg and OBS do before publishing)."""
        self._quiet_call("releaseStream", name)

    def fc_publish(self, name: str) -> None:
        """Send ``FCPublish`` (FFmpeg and OBS do before publishing)."""
        self._quiet_call("FCPublish", name)

    def _quiet_call(self, name: str, *arguments: Any) -> None:
        self._check_connected(f"send {name}")
        transaction_id = self._new_transaction(name)
        self._quiet.add(transaction_id)
        self._command(name, transaction_id, None, *arguments, amf3=self._amf3)

    def publish(self, stream_id: int, name: str, publish_type: str = "live") -> None:
        """Publish ``name`` on ``stream_id``; the answer is :class:`PublishStarted` or
        :class:`PublishRejected`."""
        self._check_connected("publish")
        stream = self._stream(stream_id, "publish")
        self._move(stream_id, stream, StreamInput.PUBLISH, remote=False)
        stream.name = name
        self._command(
            "publish", 0.0, None, name, publish_type, stream_id=stream_id, amf3=self._amf3
        )

    def play(
        self,
        stream_id: int,
        name: str,
        *,
        start: float = -2000.0,
        duration: float = -1.0,
        reset: bool = True,
        buffer_length: int = 3000,
    ) -> None:
        """Play ``name`` on ``stream_id`` and set the buffer length (ms), as FFmpeg does.

        The answer is :class:`PlayStarted` or :class:`PlayRejected`.
        """
        self._check_connected("play")
        stream = self._stream(stream_id, "play")
        self._move(stream_id, stream, StreamInput.PLAY, remote=False)
        stream.name = name
        self._command(
            "play",
            0.0,
            None,
            name,
            float(start),
            float(duration),
            reset,
            stream_id=stream_id,
            amf3=self._amf3,
        )
        self._send(msg.SetBufferLength(stream_id=stream_id, buffer_length=buffer_length))

    def send_metadata(self, stream_id: int, metadata: dict[str, Any], timestamp: int = 0) -> None:
        """Send ``@setDataFrame onMetaData`` (the server stores and forwards it)."""
        self.send_data(stream_id, ("@setDataFrame", "onMetaData", ECMAArray(metadata)), timestamp)

    def pause(self, stream_id: int, paused: bool = True, position: float = 0.0) -> None:
        """Pause (or, with ``paused`` false, resume) playing ``stream_id``.

        ``position`` is where the player is (ms of the stream's time).  A server that
        supports it stops sending and answers NetStream.Pause.Notify (then
        NetStream.Unpause.Notify, and a live stream goes on from its next keyframe).
        """
        self._check_connected("pause")
        stream = self._stream(stream_id, "pause")
        if stream.state is not StreamState.PLAYING:
            raise LocalProtocolError(
                f"cannot pause: stream {stream_id} is {stream.state.value}, not playing"
            )
        self._command(
            "pause", 0.0, None, paused, float(position), stream_id=stream_id, amf3=self._amf3
        )

    def close_stream(self, stream_id: int) -> None:
        """Stop publishing or playing on ``stream_id`` (``FCUnpublish`` + ``closeStream``)."""
        self._check_open("close a stream")
        stream = self._stream(stream_id, "close it")
        self._unpublish(stream)
        self._command("closeStream", 0.0, None, stream_id=stream_id, amf3=self._amf3)
        self._move(stream_id, stream, StreamInput.CLOSE_STREAM, remote=False)

    def delete_stream(self, stream_id: int) -> None:
        """Delete ``stream_id`` (``FCUnpublish`` first when publishing, then ``deleteStream``)."""
        self._check_open("delete a stream")
        stream = self._stream(stream_id, "delete it")
        self._unpublish(stream)
        self._command("deleteStream", 0.0, None, float(stream_id), amf3=self._amf3)
        self._move(stream_id, stream, StreamInput.DELETE_STREAM, remote=False)
        del self._streams[stream_id]

    def _unpublish(self, stream: _Stream) -> None:
        if stream.state in (StreamState.PUBLISHING, StreamState.PUBLISH_PENDING):
            transaction_id = self._new_transaction("FCUnpublish")
            self._quiet.add(transaction_id)
            self._command("FCUnpublish", transaction_id, None, stream.name, amf3=self._amf3)

    def _check_media(self, stream_id: int, what: str) -> None:
        stream = self._stream(stream_id, what)
        if stream.state is not StreamState.PUBLISHING:
            raise LocalProtocolError(
                f"cannot {what}: the client's stream {stream_id} is {stream.state.value}, "
                "not publishing"
            )

    # -- receiving ----------------------------------------------------------

    def _handle(self, message: Message, events: list[Event]) -> None:
        if message.message_stream_id == 0 and message.type_id in _STREAM_ZERO_MEDIA:
            # FFmpeg as a server (-listen 1) answers createStream with stream 1, then
            # sends the player its metadata and media on message stream 0 (which can
            # never be a created stream) and ends with deleteStream(0).  Take such
            # messages as those of the one stream playing.
            playing = [i for i, s in self._streams.items() if s.state is StreamState.PLAYING]
            if len(playing) == 1:
                message = message._replace(message_stream_id=playing[0])
        super()._handle(message, events)

    def _peer_closed(self, events: list[Event]) -> None:
        if (
            self._state in (ConnectionState.HANDSHAKING, ConnectionState.IDLE)
            and (self._connect_transaction is not None)
        ) or self._state is ConnectionState.CONNECTING:
            events.append(
                ConnectRejected(
                    code="NetConnection.Connect.Closed",
                    description="the server closed the connection instead of answering connect",
                )
            )
        for stream_id, stream in self._streams.items():
            if stream.state is StreamState.PUBLISH_PENDING:
                events.append(
                    PublishRejected(
                        stream_id=stream_id,
                        level="error",
                        code="NetConnection.Connect.Closed",
                        description="the server closed the connection instead of answering publish",
                    )
                )
            elif stream.state is StreamState.PLAY_PENDING:
                events.append(
                    PlayRejected(
                        stream_id=stream_id,
                        level="error",
                        code="NetConnection.Connect.Closed",
                        description="the server closed the connection instead of answering play",
                    )
                )

    def _on_command(self, command: msg.Command, events: list[Event]) -> None:
        name = command.name
        if name == "_result" or name == "_error":
            self._on_reply(command, events)
        elif name == "onStatus":
            info = command.arguments[0] if command.arguments else command.command_object
            self._on_status(command.message_stream_id, info, events)
        else:
            # onBWDone, onFCPublish, _onbwcheck and any custom RPC.
            events.append(CommandReceived(stream_id=command.message_stream_id, command=command))

    def _on_matched_reply(self, request: str, command: msg.Command, events: list[Event]) -> None:
        transaction_id = command.transaction_id
        if transaction_id == self._connect_transaction:
            self._connect_transaction = None
            info = command.arguments[0] if command.arguments else None
            if command.name == "_result":
                self._state = next_connection_state(
                    self._state, ConnectionInput.CONNECT_ACCEPTED, role=self._role, remote=True
                )
                # Ask the server to acknowledge what we send, as librtmp (OBS) does:
                # encoders that never see an Acknowledgement may stall.
                self.send_window_ack_size(self._config.window_ack_size)
                properties = command.command_object
                events.append(
                    Connected(
                        properties=dict(properties) if isinstance(properties, dict) else {},
                        information=dict(info) if isinstance(info, dict) else {},
                    )
                )
            else:
                self._state = next_connection_state(
                    self._state, ConnectionInput.CONNECT_REJECTED, role=self._role, remote=True
                )
                events.append(
                    ConnectRejected(
                        code=_info_field(info, "code") or "NetConnection.Connect.Rejected",
                        description=_info_field(info, "description"),
                        information=info,
                    )
                )
        elif transaction_id in self._creating:
            self._creating.discard(transaction_id)
            stream_id = command.arguments[0] if command.arguments else None
            if command.name != "_result":
                super()._on_matched_reply(request, command, events)
                return
            if not (
                isinstance(stream_id, float)
                and 0 < stream_id <= 0xFFFFFFFF
                and stream_id.is_integer()
            ):
                # (Without one, an application waiting for the stream would wait
                # for its response timeout and then blame the server's silence.)
                raise RemoteProtocolError(f"createStream answered with stream id {stream_id!r}")
            new_id = int(stream_id)
            if new_id in self._streams:
                raise RemoteProtocolError(f"createStream answered with stream {new_id} again")
            self._streams[new_id] = _Stream()
            events.append(StreamCreated(stream_id=new_id, transaction_id=transaction_id))
        elif transaction_id in self._quiet:
            self._quiet.discard(transaction_id)
        else:
            super()._on_matched_reply(request, command, events)

    def _on_status(self, stream_id: int, info: Any, events: list[Event]) -> None:
        level = _info_field(info, "level")
        code = _info_field(info, "code")
        description = _info_field(info, "description")
        fields = {
            "stream_id": stream_id,
            "level": level,
            "code": code,
            "description": description,
            "information": info,
        }
        stream = self._streams.get(stream_id)
        state = stream.state if stream is not None else None
        error = level == "error"
        if code.startswith("NetConnection.Connect.") and self._state is ConnectionState.CONNECTING:
            if code == "NetConnection.Connect.Success":
                events.append(StatusReceived(**fields))
                return
            self._connect_transaction = None
            self._state = next_connection_state(
                self._state, ConnectionInput.CONNECT_REJECTED, role=self._role, remote=True
            )
            events.append(ConnectRejected(code=code, description=description, information=info))
        elif code == "NetConnection.Connect.ReconnectRequest":
            tc_url = info.get("tcUrl") if isinstance(info, dict) else None
            events.append(
                ReconnectRequested(tc_url=tc_url if isinstance(tc_url, str) else None, **fields)
            )
        elif (
            stream is not None
            and state is StreamState.PUBLISH_PENDING
            and (
                code == "NetStream.Publish.Start" or error or code.startswith("NetStream.Publish.")
            )
        ):
            if code == "NetStream.Publish.Start" and not error:
                self._move(stream_id, stream, StreamInput.PUBLISH_ACCEPTED, remote=True)
                events.append(PublishStarted(**fields))
            else:
                self._move(stream_id, stream, StreamInput.PUBLISH_REJECTED, remote=True)
                events.append(PublishRejected(**fields))
        elif (
            stream is not None
            and state is StreamState.PLAY_PENDING
            and (code == "NetStream.Play.Start" or (error and code.startswith("NetStream.Play.")))
        ):
            if code == "NetStream.Play.Start" and not error:
                self._move(stream_id, stream, StreamInput.PLAY_ACCEPTED, remote=True)
                events.append(PlayStarted(**fields))
            else:
                self._move(stream_id, stream, StreamInput.PLAY_REJECTED, remote=True)
                events.append(PlayRejected(**fields))
        elif (
            stream is not None
            and state is StreamState.PLAYING
            and error
            and code.startswith("NetStream.Play.")
        ):
            self._move(stream_id, stream, StreamInput.PLAY_REJECTED, remote=True)
            events.append(PlayRejected(**fields))
        elif code in ("NetStream.Play.Stop", "NetStream.Play.Complete"):
            if stream is not None and state in (
                StreamState.PLAYING,
                StreamState.PLAY_PENDING,
                StreamState.IDLE,
            ):
                self._move(stream_id, stream, StreamInput.PLAY_STOPPED, remote=True)
            events.append(PlayStopped(**fields))
        elif code == "NetStream.Play.UnpublishNotify":
            events.append(StreamUnpublished(**fields))
        elif code == "NetStream.Play.PublishNotify":
            events.append(StreamPublished(**fields))
        elif stream is not None and state is StreamState.PUBLISHING and error:
            # The server stopped accepting our media (e.g. NetStream.Publish.BadName
            # after a takeover): report it as a refusal of the publish.
            self._move(stream_id, stream, StreamInput.CLOSE_STREAM, remote=True)
            events.append(PublishRejected(**fields))
        else:
            events.append(StatusReceived(**fields))

    def _on_user_control(self, value: msg.RTMPMessage, events: list[Event]) -> None:
        if isinstance(value, msg.StreamBegin):
            events.append(StreamBegun(stream_id=value.stream_id))
        elif isinstance(value, msg.StreamEOF):
            events.append(StreamEnded(stream_id=value.stream_id))
        elif isinstance(value, msg.StreamDry):
            events.append(StreamDried(stream_id=value.stream_id))
        elif isinstance(value, msg.StreamIsRecorded):
            events.append(StreamRecorded(stream_id=value.stream_id))
        elif isinstance(value, msg.SetBufferLength):
            pass  # a server has no business sending it; harmless


# ---------------------------------------------------------------------------
# Server


class ServerConnection(_Connection):
    """The server side of an RTMP connection, answering as nginx-rtmp and FMS do.

    ``random`` (1528 bytes) and ``time`` feed the handshake.  The connection answers
    everything it can by itself and asks the application for decisions through
    :class:`ConnectRequest`, :class:`PublishRequest` and :class:`PlayRequest`.
    """

    _role = "server"

    def __init__(
        self, *, random: bytes, time: int = 0, config: ConnectionConfig | None = None
    ) -> None:
        config = config or ConnectionConfig()
        handshake = ServerHandshake(random=random, time=time, digest=config.digest_handshake)
        super().__init__(handshake, config)
        self._connect_transaction = 0.0
        self._object_encoding = 0.0
        self._deferred: list[Message] = []
        # Each stream's metadata, kept to forward to players as onMetaData.
        self._metadata: dict[int, dict[str, Any]] = {}
        self._app = ""

    @property
    def app(self) -> str:
        """The application the client connected to."""
        return self._app

    def metadata(self, stream_id: int) -> dict[str, Any] | None:
        """The last metadata a publisher sent on ``stream_id``."""
        return self._metadata.get(stream_id)

    # -- decisions ------------------------------------------------------------

    def accept_connect(
        self,
        *,
        properties: dict[str, Any] | None = None,
        information: dict[str, Any] | None = None,
    ) -> list[Event]:
        """Accept the pending ``connect``.

        Sends Window Acknowledgement Size, Set Peer Bandwidth, Set Chunk Size, the
        ``_result`` (fmsVer, capabilities and our Enhanced RTMP capabilities; then
        NetConnection.Connect.Success) and ``onBWDone``.  ``properties`` and
        ``information`` add members to the two objects of the ``_result``.

        Returns the events of messages the client sent while we were deciding (they
        are bounded: see ``ConnectionConfig.max_deferred_messages``).  If one of those
        is a violation, this raises
        :class:`~trio_rtmp.core.errors.RemoteProtocolError` (after queueing the
        acceptance) and leaves the connection in ``ERROR``, as :meth:`receive_data`
        would have.
        """
        self._state = next_connection_state(
            self._state, ConnectionInput.CONNECT_ACCEPTED, role=self._role, remote=False
        )
        config = self._config
        self.send_window_ack_size(config.window_ack_size)
        self._send(
            msg.SetPeerBandwidth(
                window_size=config.peer_bandwidth, limit_type=msg.LimitType.DYNAMIC
            )
        )
        self.set_chunk_size(config.chunk_size)
        result_properties: dict[str, Any] = {
            "fmsVer": config.fms_version,
            "capabilities": 31.0,
            "mode": 1.0,
        }
        if config.enhanced_rtmp:
            result_properties["fourCcList"] = list(config.video_fourccs)
            result_properties["videoFourCcInfoMap"] = {
                c: float(_ALL_CAPS) for c in config.video_fourccs
            }
            result_properties["audioFourCcInfoMap"] = {
                c: float(_ALL_CAPS) for c in config.audio_fourccs
            }
            result_properties["capsEx"] = float(config.caps_ex)
        result_properties.update(properties or {})
        info = _status(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded.",
            objectEncoding=self._object_encoding,
        )
        info.update(information or {})
        self._command(
            "_result", self._connect_transaction, result_properties, info, amf3=self._amf3
        )
        self._command("onBWDone", 0.0, None, amf3=self._amf3)
        events: list[Event] = []
        deferred, self._deferred = self._deferred, []
        try:
            for message in deferred:
                self._handle(message, events)
        except ProtocolError:
            self._state = ConnectionState.ERROR
            raise
        return events

    def reject_connect(
        self,
        description: str = "Connection rejected.",
        *,
        code: str = "NetConnection.Connect.Rejected",
    ) -> None:
        """Refuse the pending ``connect`` with ``_error`` (the caller then closes)."""
        self._state = next_connection_state(
            self._state, ConnectionInput.CONNECT_REJECTED, role=self._role, remote=False
        )
        self._command(
            "_error",
            self._connect_transaction,
            None,
            _status("error", code, description),
            amf3=self._amf3,
        )
        self._deferred.clear()

    def accept_publish(self, stream_id: int) -> None:
        """Accept the pending publish: StreamBegin and NetStream.Publish.Start."""
        stream = self._stream(stream_id, "accept a publish")
        self._move(stream_id, stream, StreamInput.PUBLISH_ACCEPTED, remote=False)
        self._send(msg.StreamBegin(stream_id=stream_id))
        self._stream_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            f"{stream.name} is now published.",
            details=stream.name,
        )

    def reject_publish(
        self,
        stream_id: int,
        description: str = "Publishing refused.",
        *,
        code: str = "NetStream.Publish.BadName",
    ) -> None:
        """Refuse the pending publish with an error ``onStatus`` (BadName by default)."""
        stream = self._stream(stream_id, "reject a publish")
        self._move(stream_id, stream, StreamInput.PUBLISH_REJECTED, remote=False)
        self._stream_status(stream_id, "error", code, description, details=stream.name)

    def accept_play(self, stream_id: int, *, recorded: bool = False, reset: bool = True) -> None:
        """Accept the pending play.

        Sends StreamIsRecorded (for a recorded stream), StreamBegin,
        NetStream.Play.Reset, NetStream.Play.Start, ``|RtmpSampleAccess`` and
        NetStream.Data.Start (as an onStatus command), as FMS does.
        """
        stream = self._stream(stream_id, "accept a play")
        self._move(stream_id, stream, StreamInput.PLAY_ACCEPTED, remote=False)
        if recorded:
            self._send(msg.StreamIsRecorded(stream_id=stream_id))
        self._send(msg.StreamBegin(stream_id=stream_id))
        name = stream.name
        if reset:
            self._stream_status(
                stream_id,
                "status",
                "NetStream.Play.Reset",
                f"Playing and resetting {name}.",
                details=name,
            )
        self._stream_status(
            stream_id, "status", "NetStream.Play.Start", f"Started playing {name}.", details=name
        )
        self._send(
            msg.Data(values=("|RtmpSampleAccess", True, True), message_stream_id=stream_id),
            DATA_CHUNK_STREAM,
        )
        # FMS sends NetStream.Data.Start as a data message, which FFmpeg (5.1) takes
        # for a data stream of the media ("Data: none", breaking ``-map 0`` into
        # MP4); as an onStatus command every client reads it as the status it is.
        self._stream_status(
            stream_id, "status", "NetStream.Data.Start", f"Started playing {name}.", details=name
        )

    def reject_play(
        self,
        stream_id: int,
        description: str = "No such stream.",
        *,
        code: str = "NetStream.Play.StreamNotFound",
    ) -> None:
        """Refuse the pending play (StreamNotFound by default; or NetStream.Play.Failed)."""
        stream = self._stream(stream_id, "reject a play")
        self._move(stream_id, stream, StreamInput.PLAY_REJECTED, remote=False)
        self._stream_status(stream_id, "error", code, description, details=stream.name)

    # -- to players ------------------------------------------------------------

    def send_metadata(self, stream_id: int, metadata: dict[str, Any], timestamp: int = 0) -> None:
        """Send ``onMetaData`` to a player."""
        self.send_data(stream_id, ("onMetaData", ECMAArray(metadata)), timestamp)

    def notify_unpublish(self, stream_id: int) -> None:
        """Tell a player its publisher left: NetStream.Play.UnpublishNotify and StreamEOF."""
        stream = self._stream(stream_id, "notify an unpublish")
        self._stream_status(
            stream_id,
            "status",
            "NetStream.Play.UnpublishNotify",
            f"{stream.name} is now unpublished.",
            details=stream.name,
        )
        self._send(msg.StreamEOF(stream_id=stream_id))

    def notify_publish(self, stream_id: int) -> None:
        """Tell a waiting player a publisher started (StreamBegin, NetStream.Play.PublishNotify)."""
        stream = self._stream(stream_id, "notify a publish")
        self._send(msg.StreamBegin(stream_id=stream_id))
        self._stream_status(
            stream_id,
            "status",
            "NetStream.Play.PublishNotify",
            f"{stream.name} is now published.",
            details=stream.name,
        )

    def stop_play(self, stream_id: int, description: str = "Stopped playing.") -> None:
        """End playback: StreamEOF and NetStream.Play.Stop; the stream becomes idle."""
        stream = self._stream(stream_id, "stop a play")
        # The transition first, as everywhere: a refused call sends nothing.
        self._move(stream_id, stream, StreamInput.PLAY_STOPPED, remote=False)
        self._send(msg.StreamEOF(stream_id=stream_id))
        self._stream_status(
            stream_id, "status", "NetStream.Play.Stop", description, details=stream.name
        )

    def request_reconnect(self, tc_url: str | None = None, description: str = "") -> None:
        """Ask the client to reconnect (NetConnection.Connect.ReconnectRequest)."""
        self._check_connected("request a reconnect")
        info = _status("status", "NetConnection.Connect.ReconnectRequest", description)
        if tc_url is not None:
            info["tcUrl"] = tc_url
        self._command("onStatus", 0.0, None, info, amf3=self._amf3)

    def send_result(self, transaction_id: float, command_object: Any = None, *values: Any) -> None:
        """Answer a client's request (from :class:`CommandReceived`) with ``_result``."""
        self.send_command("_result", command_object, *values, transaction_id=transaction_id)

    def send_error(
        self, transaction_id: float, description: str, *, code: str = "NetConnection.Call.Failed"
    ) -> None:
        """Answer a client's request with ``_error``."""
        self.send_command(
            "_error", None, _status("error", code, description), transaction_id=transaction_id
        )

    def _stream_status(
        self, stream_id: int, level: str, code: str, description: str, **extra: Any
    ) -> None:
        self._command(
            "onStatus",
            0.0,
            None,
            _status(level, code, description, **extra),
            stream_id=stream_id,
            amf3=self._streams[stream_id].amf3,
        )

    def _check_media(self, stream_id: int, what: str) -> None:
        stream = self._stream(stream_id, what)
        if stream.state is not StreamState.PLAYING:
            raise LocalProtocolError(
                f"cannot {what}: the server's stream {stream_id} is {stream.state.value}, "
                "not playing"
            )

    # -- receiving ----------------------------------------------------------

    def _handle(self, message: Message, events: list[Event]) -> None:
        if self._state is ConnectionState.CONNECTING and message.type_id > 6:
            # The application is deciding on connect; hold what the client sends
            # meanwhile (protocol control is still handled).  accept_connect handles
            # it all at once, so it is bounded in memory and in AMF to decode.
            self._check_deferred(message)
            self._deferred.append(message)
            return
        super()._handle(message, events)

    def _check_deferred(self, message: Message) -> None:
        deferred = [*self._deferred, message]
        limits = self._config.limits
        if len(deferred) > self._config.max_deferred_messages:
            raise RemoteProtocolError(
                f"more than {self._config.max_deferred_messages} messages before "
                "connect was answered"
            )
        if sum(len(m.payload) for m in deferred) > limits.max_buffered_bytes:
            raise RemoteProtocolError(
                f"more than {limits.max_buffered_bytes} bytes before connect was answered"
            )
        limit = limits.max_amf_message_size
        if sum(_amf_cost(m, limit) for m in deferred) > limit:
            raise RemoteProtocolError(
                f"more than {limit} bytes of commands and data before connect was answered"
            )

    def _on_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
        self._metadata[stream_id] = dict(metadata)

    def _on_user_control(self, value: msg.RTMPMessage, events: list[Event]) -> None:
        if isinstance(value, msg.SetBufferLength):
            events.append(
                BufferLengthSet(stream_id=value.stream_id, buffer_length=value.buffer_length)
            )

    def _on_data(self, data: msg.Data, events: list[Event]) -> None:
        if data.values[:1] == ("@clearDataFrame",):
            self._metadata.pop(data.message_stream_id, None)
        super()._on_data(data, events)

    def _on_command(self, command: msg.Command, events: list[Event]) -> None:
        name = command.name
        if self._state is ConnectionState.IDLE:
            if name != "connect":
                raise RemoteProtocolError(f"{name!r} before connect")
            self._on_connect(command, events)
            return
        if name == "connect":
            raise RemoteProtocolError("connect on a connection that is already connected")
        if self._state is not ConnectionState.CONNECTED:
            # Rejected or closing: the client should be silent.
            logger.debug("server: ignored %r in state %s", name, self._state.value)
            return
        handler = self._COMMANDS.get(name)
        if handler is not None:
            handler(self, command, events)
        elif name in ("_result", "_error"):
            self._on_reply(command, events)
        else:
            events.append(CommandReceived(stream_id=command.message_stream_id, command=command))

    def _on_connect(self, command: msg.Command, events: list[Event]) -> None:
        self._state = next_connection_state(
            self._state, ConnectionInput.CONNECT, role=self._role, remote=True
        )
        obj = command.command_object
        if not isinstance(obj, dict):
            raise RemoteProtocolError("connect without a command object")
        self._connect_transaction = command.transaction_id
        self._amf3 = command.amf3
        encoding = _number(obj.get("objectEncoding"))
        self._object_encoding = encoding if encoding in (0.0, 3.0) else 0.0
        self._app = _text(obj.get("app"))
        fourccs = obj.get("fourCcList")
        video_map = obj.get("videoFourCcInfoMap")
        audio_map = obj.get("audioFourCcInfoMap")
        caps_ex = _number(obj.get("capsEx"))
        events.append(
            ConnectRequest(
                transaction_id=command.transaction_id,
                app=self._app,
                tc_url=_text(obj.get("tcUrl")),
                flash_version=_text(obj.get("flashVer")),
                swf_url=_text(obj.get("swfUrl")),
                page_url=_text(obj.get("pageUrl")),
                object_encoding=self._object_encoding,
                capabilities=_number(obj.get("capabilities")),
                audio_codecs=_number(obj.get("audioCodecs")),
                video_codecs=_number(obj.get("videoCodecs")),
                fourcc_list=tuple(c for c in fourccs if isinstance(c, str))
                if isinstance(fourccs, list)
                else (),
                video_fourcc_info_map=_number_map(video_map),
                audio_fourcc_info_map=_number_map(audio_map),
                caps_ex=int(caps_ex) if math.isfinite(caps_ex) and 0 <= caps_ex < 2**32 else 0,
                command_object=dict(obj),
                arguments=command.arguments,
            )
        )

    def _on_create_stream(self, command: msg.Command, events: list[Event]) -> None:
        if len(self._streams) >= self._config.max_message_streams:
            self._command(
                "_error",
                command.transaction_id,
                None,
                _status("error", "NetConnection.Call.Failed", "Too many streams."),
                amf3=command.amf3,
            )
            return
        stream_id = 1
        while stream_id in self._streams:
            stream_id += 1
        stream = self._streams[stream_id] = _Stream()
        stream.amf3 = command.amf3
        self._command("_result", command.transaction_id, None, float(stream_id), amf3=command.amf3)
        events.append(StreamCreated(stream_id=stream_id, transaction_id=command.transaction_id))

    def _on_release_stream(self, command: msg.Command, events: list[Event]) -> None:
        if command.transaction_id:
            self._command("_result", command.transaction_id, None, UNDEFINED, amf3=command.amf3)

    def _on_fc_publish(self, command: msg.Command, events: list[Event]) -> None:
        name = _text(command.arguments[0]) if command.arguments else ""
        self._command(
            "onFCPublish",
            0.0,
            None,
            _status("status", "NetStream.Publish.Start", name),
            amf3=command.amf3,
        )

    def _on_fc_unpublish(self, command: msg.Command, events: list[Event]) -> None:
        name = _text(command.arguments[0]) if command.arguments else ""
        self._command(
            "onFCUnpublish",
            0.0,
            None,
            _status("status", "NetStream.Unpublish.Success", name),
            amf3=command.amf3,
        )
        for stream_id, stream in self._streams.items():
            if stream.name == name and stream.state in (
                StreamState.PUBLISHING,
                StreamState.PUBLISH_PENDING,
            ):
                self._move(stream_id, stream, StreamInput.CLOSE_STREAM, remote=True)
                events.append(StreamClosed(stream_id=stream_id))

    def _stream_of(self, command: msg.Command) -> tuple[int, _Stream]:
        stream_id = command.message_stream_id
        stream = self._streams.get(stream_id)
        if stream is None:
            raise RemoteProtocolError(
                f"{command.name!r} on stream {stream_id}, which was never created"
            )
        return stream_id, stream

    def _on_publish(self, command: msg.Command, events: list[Event]) -> None:
        stream_id, stream = self._stream_of(command)
        args = command.arguments
        name = _text(args[0]) if args else ""
        publish_type = _text(args[1]) if len(args) > 1 else "live"
        self._move(stream_id, stream, StreamInput.PUBLISH, remote=True)
        stream.name = name
        stream.amf3 = command.amf3
        events.append(
            PublishRequest(
                stream_id=stream_id, stream_key=name, publish_type=publish_type or "live"
            )
        )

    def _on_play(self, command: msg.Command, events: list[Event]) -> None:
        stream_id, stream = self._stream_of(command)
        args = command.arguments
        name = _text(args[0]) if args else ""
        self._move(stream_id, stream, StreamInput.PLAY, remote=True)
        stream.name = name
        stream.amf3 = command.amf3
        reset = args[3] if len(args) > 3 else True
        events.append(
            PlayRequest(
                stream_id=stream_id,
                stream_key=name,
                start=_number(args[1], -2000.0) if len(args) > 1 else -2000.0,
                duration=_number(args[2], -1.0) if len(args) > 2 else -1.0,
                reset=reset if isinstance(reset, bool) else True,
            )
        )

    def _on_close_stream(self, command: msg.Command, events: list[Event]) -> None:
        stream_id = command.message_stream_id
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # closing what is not there is harmless
        self._move(stream_id, stream, StreamInput.CLOSE_STREAM, remote=True)
        events.append(StreamClosed(stream_id=stream_id))

    def _on_delete_stream(self, command: msg.Command, events: list[Event]) -> None:
        raw = command.arguments[0] if command.arguments else None
        stream_id = int(raw) if isinstance(raw, float) and raw.is_integer() and raw >= 0 else -1
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            logger.debug("server: deleteStream of unknown stream %r", raw)
            return
        stream.state = StreamState.DELETED
        self._metadata.pop(stream_id, None)
        events.append(StreamDeleted(stream_id=stream_id))

    def _on_pause(self, command: msg.Command, events: list[Event]) -> None:
        stream_id = command.message_stream_id
        stream = self._streams.get(stream_id)
        if stream is None or stream.state is not StreamState.PLAYING:
            logger.debug("server: ignored pause on stream %d, which is not playing", stream_id)
            return
        args = command.arguments
        paused = args[0] if args else None
        if not isinstance(paused, bool):
            # "pause" with no flag toggles, as pauseRaw does in FMS.
            paused = not stream.paused
        position = _number(args[1]) if len(args) > 1 else 0.0
        if paused == stream.paused:
            return  # already so: nothing to tell anyone
        stream.paused = paused
        name = stream.name
        if paused:
            self._send(msg.StreamEOF(stream_id=stream_id))
            self._stream_status(
                stream_id, "status", "NetStream.Pause.Notify", f"Paused {name}.", details=name
            )
        else:
            self._send(msg.StreamBegin(stream_id=stream_id))
            self._stream_status(
                stream_id, "status", "NetStream.Unpause.Notify", f"Unpaused {name}.", details=name
            )
        events.append(PlayPaused(stream_id=stream_id, paused=paused, position=position))

    def paused(self, stream_id: int) -> bool:
        """Whether the player of ``stream_id`` has paused it."""
        stream = self._streams.get(stream_id)
        return stream is not None and stream.paused

    def _on_get_stream_length(self, command: msg.Command, events: list[Event]) -> None:
        self._command("_result", command.transaction_id, None, 0.0, amf3=command.amf3)

    def _on_ignored(self, command: msg.Command, events: list[Event]) -> None:
        """Commands that need no answer (bandwidth checks FFmpeg sends after onBWDone)."""

    _COMMANDS: ClassVar[dict[str, Callable[[ServerConnection, msg.Command, list[Event]], None]]] = {
        "createStream": _on_create_stream,
        "releaseStream": _on_release_stream,
        "FCPublish": _on_fc_publish,
        "FCUnpublish": _on_fc_unpublish,
        "publish": _on_publish,
        "play": _on_play,
        "closeStream": _on_close_stream,
        "deleteStream": _on_delete_stream,
        "getStreamLength": _on_get_stream_length,
        "pause": _on_pause,
        "_checkbw": _on_ignored,
    }


def _number_map(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {
        k: float(v)
        for k, v in value.items()
        if isinstance(v, float | int) and not isinstance(v, bool)
    }
