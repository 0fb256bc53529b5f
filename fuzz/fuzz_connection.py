"""Fuzz the client and server connection state machines with arbitrary messages.

Input layout: byte 0 picks the connection and the state it is driven into first (by a
real peer of ours: handshake, connect, createStream, publish or play), and for a server
the application's policy (``byte 0 // 7 % 4``: accept everything, reject everything,
accept only after the next piece of input has arrived, or accept and reject in turn);
byte 1 how the
bytes are fed (``byte 1 & 0x7F``: 0 at once, else in pieces of that many bytes; with
``byte 1 & 0x80`` each piece goes in with ``feed_data`` and comes out in
``next_events`` steps, the application answering between them); the rest is a sequence
of messages, each ``type id (1 byte), chunk stream id - 2 (1), message stream id (1),
body length (2, big-endian), body``, chunked by a ``ChunkWriter`` so that the
fuzzer's bytes reach the message and command layers rather than dying in the chunk
layer (which ``fuzz_chunks`` covers).  A record of type 255 is not a message but a
call of the application's: byte 0 of its body picks a method of the connection (see
``CLIENT_CALLS`` and ``SERVER_CALLS``), made with the record's stream id between the
messages before and after it.  Both connections have a small AMF limit (2 KiB), so
that small inputs reach what happens past it.

Invariant: events or a ``ProtocolError``, nothing else, and after a
``ProtocolError`` the connection is in ``ERROR``; the application's answers to the
events, and the application's calls, raise nothing but ``LocalProtocolError`` (a call
the state does not allow), and a refused call sends nothing; whatever the connection
sends is a well-formed chunk stream of messages that decode.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from trio_rtmp.core import ConnectionState, amf0
from trio_rtmp.core.chunks import MAX_CHUNK_SIZE, ChunkReader, ChunkWriter, encode_message
from trio_rtmp.core.config import Limits
from trio_rtmp.core.connection import ClientConnection, ConnectionConfig, ServerConnection
from trio_rtmp.core.errors import LocalProtocolError, ProtocolError
from trio_rtmp.core.events import (
    ConnectRequest,
    Event,
    PlayRequest,
    PublishRequest,
    StreamCreated,
)
from trio_rtmp.core.handshake import HANDSHAKE_TOTAL
from trio_rtmp.core.messages import (
    Aggregate,
    Audio,
    Command,
    Data,
    Video,
    decode_message,
)
from trio_rtmp.core.messages import encode_message as encode_message_value

CLIENT_RANDOM = bytes((i * 7 + 3) % 256 for i in range(1528))
SERVER_RANDOM = bytes((i * 13 + 5) % 256 for i in range(1528))

Connection = ClientConnection | ServerConnection

# A small AMF limit, so that inputs of a few KiB reach what happens past it (data
# messages passed up undecoded, the limit an aggregate's AMF messages share).
CONFIG = ConnectionConfig(limits=Limits(max_amf_message_size=2048))


def _pump(client: ClientConnection, server: ServerConnection, sent: Sent) -> list[Event]:
    """Move bytes both ways until both are quiet; returns the client's events.

    What each side sent is added to ``sent`` (the client's, the server's).
    """
    events: list[Event] = []
    application = Application(server)
    while True:
        to_server, to_client = client.data_to_send(), server.data_to_send()
        if not to_server and not to_client:
            return events
        sent[0].extend(to_server)
        sent[1].extend(to_client)
        if to_server:
            assert application.respond(server.receive_data(to_server))
        if to_client:
            events += client.receive_data(to_client)


ACCEPT, REJECT, LATER, ALTERNATE = range(4)


class Application:
    """The application's part of a server: answers connect, publish and play requests.

    ``ACCEPT`` accepts everything, as a relay does; ``REJECT`` refuses everything;
    ``LATER`` accepts, but only when :meth:`answer_held` is called (after the next
    piece of input, so the client's later messages arrive before the answer);
    ``ALTERNATE`` accepts and refuses in turn.
    """

    def __init__(self, server: ServerConnection, policy: int = ACCEPT) -> None:
        self.server = server
        self.policy = policy
        self.held: list[Event] = []
        self.answered = 0

    def respond(self, events: list[Event]) -> bool:
        """Answer (or hold) ``events``; returns whether the connection is still good."""
        if self.policy == LATER:
            self.held += events
            return True
        return self._answer_all(events)

    def answer_held(self) -> bool:
        held, self.held = self.held, []
        return self._answer_all(held)

    def _answer_all(self, events: list[Event]) -> bool:
        for event in events:
            try:
                later = self._answer(event)
            except LocalProtocolError:
                # An answer the events after it made illegal (a deleteStream right
                # behind the publish, say): the application's problem, not a fault.
                continue
            except ProtocolError:
                # The messages that waited for the connect decision broke the rules.
                assert self.server.state is ConnectionState.ERROR
                return False
            if not self._answer_all(later):
                return False
        return True

    def _accepts(self) -> bool:
        self.answered += 1
        if self.policy == ALTERNATE:
            return self.answered % 2 == 1
        return self.policy != REJECT

    def _answer(self, event: Event) -> list[Event]:
        """Returns the events of messages that waited for the answer (to connect)."""
        server = self.server
        if isinstance(event, ConnectRequest):
            if self._accepts():
                return server.accept_connect()
            server.reject_connect()
        elif isinstance(event, PublishRequest):
            if self._accepts():
                server.accept_publish(event.stream_id)
            else:
                server.reject_publish(event.stream_id)
        elif isinstance(event, PlayRequest):
            if self._accepts():
                server.accept_play(event.stream_id)
            else:
                server.reject_play(event.stream_id)
        return []


Sent = tuple[bytearray, bytearray]


def _pair(step: str) -> tuple[ClientConnection, ServerConnection, Sent]:
    """A client and a server driven together up to ``step``, and what each sent."""
    client = ClientConnection(random=CLIENT_RANDOM, time=1, config=CONFIG)
    server = ServerConnection(random=SERVER_RANDOM, time=2, config=CONFIG)
    sent = (bytearray(), bytearray())
    _pump(client, server, sent)
    if step != "handshake":
        client.connect(app="live", tc_url="rtmp://127.0.0.1/live")
        _pump(client, server, sent)
    if step in ("publishing", "playing"):
        client.create_stream()
        events = _pump(client, server, sent)
        stream_id = next(e.stream_id for e in events if isinstance(e, StreamCreated))
        if step == "publishing":
            client.publish(stream_id, "key")
        else:
            client.play(stream_id, "key")
        _pump(client, server, sent)
    return client, server, sent


def _server(step: str) -> tuple[Connection, bytes]:
    """A server driven up to ``step``, and the chunk stream it has sent so far."""
    _, server, sent = _pair(step)
    return server, bytes(sent[1][HANDSHAKE_TOTAL:])


def _client(step: str) -> tuple[Connection, bytes]:
    """A client driven up to ``step``, and the chunk stream it has sent so far."""
    client, _, sent = _pair(step)
    return client, bytes(sent[0][HANDSHAKE_TOTAL:])


STARTS: list[Callable[[], tuple[Connection, bytes]]] = [
    lambda: _server("handshake"),
    lambda: _server("connected"),
    lambda: _server("publishing"),
    lambda: _server("playing"),
    lambda: _client("connected"),
    lambda: _client("publishing"),
    lambda: _client("playing"),
]

_RECORD = struct.Struct(">BBBH")
CALL = 255
# Byte 1's flag for feeding with feed_data and next_events.
STEPWISE = 0x80

Segment = bytes | tuple[int, int, bytes]


def _segments(records: bytes) -> list[Segment]:
    """The records as chunk stream bytes at the default size, cut where calls stand.

    A call is ``(method index, stream id, arguments)``.
    """
    writer = ChunkWriter()
    segments: list[Segment] = []
    pos = 0
    while pos + _RECORD.size <= len(records):
        type_id, csid, stream_id, length = _RECORD.unpack_from(records, pos)
        pos += _RECORD.size
        body = records[pos : pos + length]
        pos += length
        if type_id == CALL:
            segments += [writer.data_to_send(), (body[0] if body else 0, stream_id, body[1:])]
            continue
        try:
            writer.write(csid + 2, type_id, 0, stream_id, body)
        except LocalProtocolError:
            # A Set Chunk Size our writer will not switch to: sent as it is, so that
            # the connection sees it, with the writer keeping its size.
            writer.write_raw(
                encode_message(csid + 2, type_id, 0, stream_id, body, writer.chunk_size)
            )
            writer.forget(csid + 2)
    segments.append(writer.data_to_send())
    return segments


def _u32(arguments: bytes) -> int:
    return int.from_bytes(arguments[:4].ljust(4, b"\0"), "big")


def _data_body(arguments: bytes) -> bytes:
    """An AMF0 data body, as a file's script tag holds it.

    ``send_data_body`` sends its body unchecked, so an arbitrary one would not decode.
    """
    return amf0.encode("onTextData", {"text": arguments.decode("latin-1")})


Call = Callable[[Any, int, bytes], object]

# What a client application may do at any time (arguments from the record's body).
CLIENT_CALLS: list[Call] = [
    lambda c, sid, a: c.create_stream(),
    lambda c, sid, a: c.publish(sid, "key"),
    lambda c, sid, a: c.play(sid, "key", buffer_length=_u32(a)),
    lambda c, sid, a: c.pause(sid, bool(a[:1] != b"\0")),
    lambda c, sid, a: c.close_stream(sid),
    lambda c, sid, a: c.delete_stream(sid),
    lambda c, sid, a: c.send_audio(sid, _u32(a), a[4:]),
    lambda c, sid, a: c.send_video(sid, _u32(a), a[4:]),
    lambda c, sid, a: c.send_metadata(sid, {"width": 640.0}, _u32(a)),
    lambda c, sid, a: c.send_data_body(sid, _data_body(a)),
    lambda c, sid, a: c.release_stream("key"),
    lambda c, sid, a: c.fc_publish("key"),
    lambda c, sid, a: c.call("getStreamLength", None, "key"),
    lambda c, sid, a: c.ping(_u32(a)),
    lambda c, sid, a: c.set_chunk_size(_u32(a)),
    lambda c, sid, a: c.send_window_ack_size(_u32(a)),
    lambda c, sid, a: c.connect(app="live", tc_url="rtmp://127.0.0.1/live"),
    lambda c, sid, a: c.send_data(sid, ("onCuePoint", {"time": float(_u32(a))})),
    lambda c, sid, a: c.send_command("FCSubscribe", None, "key", stream_id=sid),
    lambda c, sid, a: c.close(),
]

# What a server application may do at any time, besides answering requests.
SERVER_CALLS: list[Call] = [
    lambda c, sid, a: c.notify_unpublish(sid),
    lambda c, sid, a: c.notify_publish(sid),
    lambda c, sid, a: c.stop_play(sid),
    lambda c, sid, a: c.request_reconnect(),
    lambda c, sid, a: c.send_result(1.0, None, "x"),
    lambda c, sid, a: c.send_error(2.0, "no"),
    lambda c, sid, a: c.send_audio(sid, _u32(a), a[4:]),
    lambda c, sid, a: c.send_video(sid, _u32(a), a[4:]),
    lambda c, sid, a: c.send_metadata(sid, {"width": 640.0}, _u32(a)),
    lambda c, sid, a: c.send_data_body(sid, _data_body(a)),
    lambda c, sid, a: c.accept_publish(sid),
    lambda c, sid, a: c.reject_publish(sid),
    lambda c, sid, a: c.accept_play(sid),
    lambda c, sid, a: c.reject_play(sid),
    lambda c, sid, a: c.ping(_u32(a)),
    lambda c, sid, a: c.set_chunk_size(_u32(a)),
    lambda c, sid, a: c.send_window_ack_size(_u32(a)),
    lambda c, sid, a: c.send_data(sid, ("onCuePoint", {"time": float(_u32(a))})),
    lambda c, sid, a: c.send_command("onFCPublish", None, {"code": "x"}, stream_id=sid),
    lambda c, sid, a: c.accept_connect(),
    lambda c, sid, a: c.reject_connect(),
    lambda c, sid, a: c.close(),
]


class Output:
    """Reads what a connection sends: it must be a chunk stream of messages that decode."""

    def __init__(self, connection: Connection, sent: bytes) -> None:
        self.connection = connection
        # Any chunk size the protocol allows: the application may pick one.
        self.reader = ChunkReader(limits=Limits(max_chunk_size=MAX_CHUNK_SIZE))
        for message in self.reader.receive_data(sent):
            decode_message(message)

    def drain(self) -> None:
        for message in self.reader.receive_data(self.connection.data_to_send()):
            decode_message(message)

    def call(self, method: int, stream_id: int, arguments: bytes) -> bool:
        """Make an application call; a refused one must send and change nothing.

        Returns whether the connection is still good.
        """
        connection = self.connection
        calls = SERVER_CALLS if isinstance(connection, ServerConnection) else CLIENT_CALLS
        self.drain()
        before = _states(connection)
        try:
            calls[method % len(calls)](connection, stream_id, arguments)
        except LocalProtocolError:
            assert not connection.data_to_send()
            assert _states(connection) == before
        except ProtocolError:
            # accept_connect: the messages that waited for it broke the rules.
            assert connection.state is ConnectionState.ERROR
            return False
        self.drain()
        return True


def _states(connection: Connection) -> tuple[object, ...]:
    """The connection's state and its streams' states."""
    streams = [(i, connection.stream_state(i)) for i in connection.stream_ids]
    return connection.state, streams, connection.chunk_size


def record(type_id: int, body: bytes, *, csid: int = 3, stream_id: int = 0) -> bytes:
    """One message of the input layout (for seeds)."""
    return _RECORD.pack(type_id, csid - 2, stream_id, len(body)) + body


def call(method: int, arguments: bytes = bytes(8), *, stream_id: int = 1) -> bytes:
    """One application call of the input layout (for seeds)."""
    return record(CALL, bytes((method,)) + arguments, stream_id=stream_id)


def _aggregate(*messages: Any) -> bytes:
    """An aggregate of ``messages`` on message stream 1 (for seeds)."""
    return record(22, encode_message_value(Aggregate(messages=messages)).payload, stream_id=1)


def _command(name: str, txn: float, *values: object, stream_id: int = 0) -> bytes:
    return record(20, amf0.encode(name, txn, *values), stream_id=stream_id)


def seeds() -> list[bytes]:
    """Every command and media message both roles take, from each starting state."""
    media = [
        record(8, b"\xaf\x00\x12\x10", csid=4, stream_id=1),
        record(9, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1", csid=6, stream_id=1),
        record(8, b"\xaf\x01" + bytes(40), csid=4, stream_id=1),
        record(9, b"\x27\x01\x00\x00\x00" + bytes(300), csid=6, stream_id=1),
        record(18, amf0.encode("@setDataFrame", "onMetaData", {"width": 640.0}), stream_id=1),
        record(15, b"\x00" + amf0.encode("onMetaData", {"duration": 0.0}), stream_id=1),
        record(22, b"\x09\x00\x00\x03\x00\x00\x10\x00\x00\x00\x00\x17\x01\x00\x00\x00\x00\x0e"),
        _aggregate(
            Video(payload=b"\x27\x01\x00\x00\x00" + bytes(100), timestamp=40),
            Audio(payload=b"\xaf\x01" + bytes(40), timestamp=46),
            Data(values=("onCuePoint", {"name": "cue"}), timestamp=50),
            Data(values=("onTextData", {"text": "x" * 1500}), timestamp=60),
            Data(values=("onTextData", {"text": "y" * 2500}), timestamp=70),
            Command(name="hello", transaction_id=0.0, arguments=("z" * 1000,)),
        ),
    ]
    server_side = [
        _command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "objectEncoding": 3.0}),
        _command("releaseStream", 2.0, None, "key"),
        _command("FCPublish", 3.0, None, "key"),
        _command("createStream", 4.0, None),
        _command("publish", 5.0, None, "key", "live", stream_id=1),
        _command("play", 6.0, None, "key", -2000.0, -1.0, True, stream_id=1),
        _command("pause", 7.0, None, True, 0.0, stream_id=1),
        _command("FCUnpublish", 8.0, None, "key"),
        _command("closeStream", 0.0, None, stream_id=1),
        _command("deleteStream", 9.0, None, 1.0),
        record(17, b"\x00" + amf0.encode("createStream", 10.0, None)),
        record(4, b"\x00\x03\x00\x00\x00\x01\x00\x00\x0b\xb8"),
        record(4, b"\x00\x06\x00\x00\x01\x02"),
        record(3, b"\x00\x01\x00\x00"),
        record(5, b"\x00\x26\x25\xa0"),
        record(1, b"\x00\x00\x10\x00", csid=2),
    ]
    client_side = [
        _command("_result", 1.0, {"fmsVer": "FMS/3,0,1,123"}, {"code": "x"}),
        _command("_result", 2.0, None, 1.0),
        _command("_error", 3.0, None, {"level": "error", "code": "NetStream.Play.Failed"}),
        _command("onBWDone", 0.0, None),
        _command(
            "onStatus",
            0.0,
            None,
            {"level": "status", "code": "NetStream.Play.Start"},
            stream_id=1,
        ),
        _command(
            "onStatus",
            0.0,
            None,
            {"level": "status", "code": "NetConnection.Connect.ReconnectRequest"},
        ),
        record(18, amf0.encode("|RtmpSampleAccess", False, False), stream_id=1),
        record(4, b"\x00\x00\x00\x00\x00\x01"),
        record(4, b"\x00\x01\x00\x00\x00\x01"),
        record(4, b"\x00\x04\x00\x00\x00\x01"),
        record(4, b"\x00\x06\x00\x00\x01\x02"),
        record(6, b"\x00\x26\x25\xa0\x02"),
    ]
    out = []
    for start in range(len(STARTS)):
        messages = server_side if start < 4 else client_side
        calls = SERVER_CALLS if start < 4 else CLIENT_CALLS
        # Each call alone, then all of them between the messages.
        out += [bytes((start, 0)) + call(index) for index in range(len(calls))]
        out.append(
            bytes((start, 0))
            + b"".join(
                (messages[i] if i < len(messages) else b"") + call(i) for i in range(len(calls))
            )
        )
        for feed in (0, 1, 7, STEPWISE, STEPWISE | 7):
            head = bytes((start, feed))
            out.append(head + b"".join(messages) + b"".join(media))
            out += [head + m for m in messages]
        if start < 4:
            # The other policies of the application, on the whole conversation of a
            # publisher and of a player.
            player = messages[:4] + messages[5:]
            for policy in (REJECT, LATER, ALTERNATE):
                head = bytes((start + policy * len(STARTS), 40))
                out.append(head + b"".join(messages) + b"".join(media))
                out.append(head + b"".join(player))
    return out


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    connection, sent = STARTS[data[0] % len(STARTS)]()
    output = Output(connection, sent)
    application = None
    if isinstance(connection, ServerConnection):
        application = Application(connection, data[0] // len(STARTS) % 4)
    piece = data[1] & 0x7F
    stepwise = bool(data[1] & STEPWISE)
    for segment in _segments(data[2:]):
        if isinstance(segment, tuple):
            if not output.call(*segment):
                return
            continue
        pieces = [
            segment[i : i + piece] for i in range(0, len(segment), piece or len(segment) or 1)
        ]
        for chunk in pieces:
            if application is not None and not application.answer_held():
                return
            fed = False
            while not fed or connection.has_pending_input:
                try:
                    if fed:
                        events = connection.next_events()
                    elif stepwise:
                        connection.feed_data(chunk)
                        events = connection.next_events()
                    else:
                        events = connection.receive_data(chunk)
                except ProtocolError:
                    assert connection.state is ConnectionState.ERROR
                    return
                fed = True
                # Each step of work (a message handled, a chunk read on its own) took
                # at least a byte of input.
                assert connection.input_steps <= connection.bytes_received
                # The application answers between the steps.
                if application is not None and not application.respond(events):
                    return
                output.drain()
    if application is not None:
        application.answer_held()
        output.drain()


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
