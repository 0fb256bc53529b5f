"""The connection state machines, client core against server core in memory."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from connection_pair import CLIENT_RANDOM, SERVER_RANDOM, ConnectionPair, Cutter, amf_burst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_rtmp.core import amf0 as codec
from trio_rtmp.core._state import (
    CONNECTION_TRANSITIONS,
    STREAM_TRANSITIONS,
    ConnectionState,
    StreamState,
)
from trio_rtmp.core.chunks import ChunkReader, ChunkWriter
from trio_rtmp.core.config import Limits
from trio_rtmp.core.connection import ClientConnection, ConnectionConfig, ServerConnection
from trio_rtmp.core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from trio_rtmp.core.events import (
    AcknowledgementReceived,
    AudioData,
    BufferLengthSet,
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
    VideoData,
)
from trio_rtmp.core.messages import (
    Aggregate,
    Audio,
    Command,
    Data,
    LimitType,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamDry,
    Video,
    decode_message,
    encode_message,
)

METADATA = {"width": 320.0, "height": 240.0, "videocodecid": 7.0, "encoder": "Lavf59"}
MEDIA = [
    ("video", 0, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1"),
    ("audio", 0, b"\xaf\x00\x12\x10"),
    ("video", 0, b"\x17\x01\x00\x00\x42" + bytes(range(256)) * 40),
    ("audio", 23, b"\xaf\x01" + bytes(300)),
    ("video", 40, b"\x27\x01\x00\x00\x21" + bytes(5000)),
    ("audio", 46, b"\xaf\x01" + bytes(301)),
    ("video", 0x01000000, b"\x27\x01\x00\x00\x21" + bytes(9000)),
]


def of(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def publish_session(pair: ConnectionPair) -> int:
    pair.connect()
    pair.client.release_stream("key")
    pair.client.fc_publish("key")
    stream_id = pair.create_stream()
    pair.client.publish(stream_id, "key")
    _, server_events = pair.pump()
    [request] = of(server_events, PublishRequest)
    assert (request.stream_id, request.stream_key, request.publish_type) == (
        stream_id,
        "key",
        "live",
    )
    pair.server.accept_publish(stream_id)
    client_events, _ = pair.pump()
    assert of(client_events, PublishStarted)
    assert pair.client.stream_state(stream_id) is StreamState.PUBLISHING
    assert pair.server.stream_state(stream_id) is StreamState.PUBLISHING
    return stream_id


def send_media(conn: ClientConnection | ServerConnection, stream_id: int) -> None:
    for kind, ts, payload in MEDIA:
        if kind == "video":
            conn.send_video(stream_id, ts, payload)
        else:
            conn.send_audio(stream_id, ts, payload)


def expected_media(stream_id: int) -> list[Event]:
    return [
        (VideoData if kind == "video" else AudioData)(
            stream_id=stream_id, timestamp=ts, payload=payload
        )
        for kind, ts, payload in MEDIA
    ]


def media_events(events: list[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, AudioData | VideoData)]


def run_publish(cut: Cutter, *, stepwise: bool = False) -> ConnectionPair:
    pair = ConnectionPair(cut=cut, stepwise=stepwise)
    stream_id = publish_session(pair)
    pair.client.send_metadata(stream_id, METADATA)
    send_media(pair.client, stream_id)
    _, server_events = pair.pump()
    [meta] = of(server_events, StreamMetadata)
    assert meta.metadata == METADATA
    assert pair.server.metadata(stream_id) == METADATA
    assert media_events(server_events) == expected_media(stream_id)
    pair.client.delete_stream(stream_id)
    _, server_events = pair.pump()
    assert of(server_events, StreamClosed) == [StreamClosed(stream_id=stream_id)]
    assert of(server_events, StreamDeleted) == [StreamDeleted(stream_id=stream_id)]
    assert pair.server.stream_ids == []
    return pair


def run_play(cut: Cutter, *, stepwise: bool = False) -> ConnectionPair:
    pair = ConnectionPair(cut=cut, stepwise=stepwise)
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.play(stream_id, "key")
    _, server_events = pair.pump()
    [request] = of(server_events, PlayRequest)
    assert (request.stream_key, request.start, request.duration, request.reset) == (
        "key",
        -2000.0,
        -1.0,
        True,
    )
    assert of(server_events, BufferLengthSet) == [
        BufferLengthSet(stream_id=stream_id, buffer_length=3000)
    ]
    pair.server.accept_play(stream_id)
    pair.server.send_metadata(stream_id, METADATA)
    send_media(pair.server, stream_id)
    client_events, _ = pair.pump()
    assert of(client_events, StreamBegun) == [StreamBegun(stream_id=stream_id)]
    codes = [e.code for e in of(client_events, StatusReceived)]
    assert codes == ["NetStream.Play.Reset", "NetStream.Play.Start", "NetStream.Data.Start"]
    assert of(client_events, PlayStarted)
    assert of(client_events, DataReceived)[0].values == ("|RtmpSampleAccess", True, True)
    assert of(client_events, StreamMetadata)[0].metadata == METADATA
    assert media_events(client_events) == expected_media(stream_id)
    pair.server.notify_unpublish(stream_id)
    client_events, _ = pair.pump()
    assert of(client_events, StreamUnpublished)
    assert of(client_events, StreamEnded) == [StreamEnded(stream_id=stream_id)]
    pair.server.notify_publish(stream_id)
    client_events, _ = pair.pump()
    assert of(client_events, StreamPublished)
    pair.client.delete_stream(stream_id)
    _, server_events = pair.pump()
    assert of(server_events, StreamDeleted) == [StreamDeleted(stream_id=stream_id)]
    return pair


def test_connect() -> None:
    pair = ConnectionPair()
    pair.client.connect(app="live", tc_url="rtmp://127.0.0.1/live", page_url="http://x/")
    assert pair.client.state is ConnectionState.HANDSHAKING
    _, server_events = pair.pump()
    assert isinstance(server_events[0], HandshakeComplete)
    assert server_events[0].peer_uses_digest
    [request] = of(server_events, ConnectRequest)
    assert request.app == "live"
    assert request.tc_url == "rtmp://127.0.0.1/live"
    assert request.page_url == "http://x/"
    assert request.flash_version.startswith("FMLE/3.0")
    assert request.fourcc_list == ("avc1", "hvc1", "av01", "vp09", "vp08", "vvc1")
    assert request.video_fourcc_info_map["hvc1"] == 7.0
    assert request.audio_fourcc_info_map["Opus"] == 7.0
    assert request.caps_ex == 7
    assert pair.client.state is ConnectionState.CONNECTING
    assert pair.server.state is ConnectionState.CONNECTING
    pair.server.accept_connect()
    client_events, _ = pair.pump()
    [connected] = of(client_events, Connected)
    assert connected.properties["fmsVer"] == "FMS/3,0,1,123"
    assert connected.properties["fourCcList"] == ["avc1", "hvc1", "av01", "vp09", "vp08", "vvc1"]
    assert connected.information["code"] == "NetConnection.Connect.Success"
    assert [e.command.name for e in of(client_events, CommandReceived)] == ["onBWDone"]
    assert pair.client.state is ConnectionState.CONNECTED
    assert pair.server.state is ConnectionState.CONNECTED
    # Both sides announced 4096-byte chunks; each reads with the other's size.
    assert pair.client.chunk_size == pair.server.peer_chunk_size == 4096
    assert pair.server.chunk_size == pair.client.peer_chunk_size == 4096


def test_publish_with_metadata_and_media() -> None:
    run_publish(lambda data: [data])


def test_play_with_media() -> None:
    run_play(lambda data: [data])


def cutters() -> st.SearchStrategy[Cutter]:
    @st.composite
    def make(draw: st.DrawFn) -> Cutter:
        sizes = draw(st.lists(st.integers(1, 5000), min_size=1, max_size=10))

        def cut(data: bytes) -> list[bytes]:
            pieces = []
            i = 0
            k = 0
            while i < len(data):
                size = sizes[k % len(sizes)]
                pieces.append(data[i : i + size])
                i += size
                k += 1
            return pieces

        return cut

    return make()


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(cutters())
def test_publish_any_split(cut: Cutter) -> None:
    run_publish(cut)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(cutters())
def test_play_any_split(cut: Cutter) -> None:
    run_play(cut)


@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(cutters(), st.sampled_from([run_publish, run_play]))
def test_stepwise_input_gives_the_same_events(
    cut: Cutter, run: Callable[..., ConnectionPair]
) -> None:
    # feed_data and next_events, as the Trio adapters use them: the same sessions,
    # the same events (run_publish and run_play check every one of them).
    run(cut, stepwise=True)


def test_one_byte_at_a_time() -> None:
    run_publish(lambda data: [data[i : i + 1] for i in range(len(data))])


def test_connect_rejected() -> None:
    pair = ConnectionPair()
    pair.client.connect(app="nope", tc_url="rtmp://127.0.0.1/nope")
    pair.pump()
    pair.server.reject_connect("No such application.")
    client_events, _ = pair.pump()
    [rejected] = of(client_events, ConnectRejected)
    assert rejected.code == "NetConnection.Connect.Rejected"
    assert rejected.description == "No such application."
    assert pair.client.state is ConnectionState.CLOSED
    assert pair.server.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        pair.client.create_stream()


def _to_client(pair: ConnectionPair, value: Any) -> list[Event]:
    """Give the client ``value`` as the server's next message, bypassing the server core."""
    writer = ChunkWriter(chunk_size=pair.client.peer_chunk_size)
    writer.write(*encode_message(value, chunk_stream_id=9))
    return pair.client.receive_data(writer.data_to_send())


@pytest.mark.parametrize("level", ["error", "status"])
def test_connect_refused_with_on_status(level: str) -> None:
    # Some servers refuse connect with an onStatus NetConnection.Connect.* instead of
    # an _error answer (and not always at level "error"); only Success is not a refusal.
    pair = ConnectionPair()
    pair.client.connect(app="live", tc_url="rtmp://127.0.0.1/live")
    pair.pump()
    success = {"level": "status", "code": "NetConnection.Connect.Success"}
    events = _to_client(pair, Command(name="onStatus", transaction_id=0.0, arguments=(success,)))
    assert [type(e) for e in events] == [StatusReceived]
    assert pair.client.state is ConnectionState.CONNECTING
    info = {"level": level, "code": "NetConnection.Connect.InvalidApp", "description": "bad app"}
    events = _to_client(pair, Command(name="onStatus", transaction_id=0.0, arguments=(info,)))
    [rejected] = of(events, ConnectRejected)
    assert (rejected.code, rejected.description) == ("NetConnection.Connect.InvalidApp", "bad app")
    assert pair.client.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        pair.client.create_stream()


@pytest.mark.parametrize(
    "answer",
    [(0.0,), (-1.0,), (1.5,), (2.0**32,), (float("nan"),), (float("inf"),), ("1",), (), "taken"],
)
def test_create_stream_answered_with_a_bad_stream_id(answer: tuple[Any, ...] | str) -> None:
    pair = ConnectionPair()
    pair.connect()
    taken = pair.create_stream()
    transaction_id = pair.client.create_stream()
    arguments = (float(taken),) if answer == "taken" else answer
    result = Command(name="_result", transaction_id=transaction_id, arguments=arguments)
    with pytest.raises(RemoteProtocolError, match="createStream answered with stream"):
        _to_client(pair, result)
    assert pair.client.state is ConnectionState.ERROR
    assert pair.client.stream_ids == [taken]


def test_set_peer_bandwidth_limit_types() -> None:
    # RTMP 1.0, 5.4.5: Hard sets the window; Soft lowers it only (the smaller of the
    # two); Dynamic counts as Hard after a Hard limit and is ignored otherwise.  A
    # window different from the last one announced is answered with a Window
    # Acknowledgement Size.
    pair = ConnectionPair()
    pair.connect()
    announced: list[int] = []
    send_window_ack_size = pair.client.send_window_ack_size

    def spy(window_size: int) -> None:
        announced.append(window_size)
        send_window_ack_size(window_size)

    pair.client.send_window_ack_size = spy  # type: ignore[method-assign]

    def answer() -> list[int]:
        sizes = announced[:]
        announced.clear()
        # What was announced is on the wire, and the server takes it as its window.
        pair.pump()
        return sizes

    def bandwidth(size: int, kind: LimitType) -> tuple[int | None, list[int]]:
        _to_client(pair, SetPeerBandwidth(window_size=size, limit_type=kind))
        return pair.client.peer_bandwidth, answer()

    before = pair.client.peer_bandwidth
    assert bandwidth(7000, LimitType.DYNAMIC) == (before, [])  # no Hard limit before it
    assert bandwidth(3000, LimitType.HARD) == (3000, [3000])
    assert bandwidth(6000, LimitType.DYNAMIC) == (6000, [6000])  # as Hard now
    assert bandwidth(4000, LimitType.SOFT) == (4000, [4000])
    assert bandwidth(9000, LimitType.SOFT) == (4000, [])  # Soft never raises it
    assert bandwidth(8000, LimitType.DYNAMIC) == (4000, [])  # the last limit was Soft
    assert bandwidth(4000, LimitType.HARD) == (4000, [])  # the window already announced
    assert pair.client.state is ConnectionState.CONNECTED


def test_on_status_in_a_data_message_is_a_status() -> None:
    # FMS and Wowza send some statuses (NetStream.Data.Start, and at times the end of
    # a play) as data messages named onStatus rather than commands.
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.play(stream_id, "k")
    pair.pump()
    pair.server.accept_play(stream_id)
    pair.pump()
    start = {"level": "status", "code": "NetStream.Data.Start"}
    [event] = _to_client(pair, Data(values=("onStatus", start), message_stream_id=stream_id))
    assert isinstance(event, StatusReceived)
    assert (event.stream_id, event.code, event.information) == (
        stream_id,
        "NetStream.Data.Start",
        start,
    )
    stop = {"level": "status", "code": "NetStream.Play.Stop", "description": "done"}
    events = _to_client(pair, Data(values=("onStatus", stop), message_stream_id=stream_id))
    assert of(events, PlayStopped) and pair.client.stream_state(stream_id) is StreamState.IDLE


def test_stream_dry_and_a_stray_set_buffer_length_from_the_server() -> None:
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    assert _to_client(pair, StreamDry(stream_id=stream_id)) == [StreamDried(stream_id=stream_id)]
    # SetBufferLength is the client's to send; from a server it is ignored.
    assert _to_client(pair, SetBufferLength(stream_id=stream_id, buffer_length=500)) == []
    assert pair.client.state is ConnectionState.CONNECTED


def test_connection_closed_instead_of_answer() -> None:
    # nginx-rtmp closes the connection for an unknown application.
    pair = ConnectionPair()
    pair.client.connect(app="nope", tc_url="rtmp://127.0.0.1/nope")
    pair.pump()
    events = pair.client.receive_data(b"")
    assert isinstance(events[0], ConnectRejected)
    assert events[0].code == "NetConnection.Connect.Closed"
    assert isinstance(events[-1], ConnectionClosed)
    assert pair.client.receive_data(b"more") == []


@pytest.mark.parametrize(
    ("code", "description"),
    [("NetStream.Publish.BadName", "Already publishing"), ("NetStream.Publish.Failed", "no")],
)
def test_publish_rejected(code: str, description: str) -> None:
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.publish(stream_id, "key")
    pair.pump()
    pair.server.reject_publish(stream_id, description, code=code)
    client_events, _ = pair.pump()
    [rejected] = of(client_events, PublishRejected)
    assert (rejected.code, rejected.description, rejected.level) == (code, description, "error")
    assert pair.client.stream_state(stream_id) is StreamState.IDLE
    assert pair.server.stream_state(stream_id) is StreamState.IDLE
    with pytest.raises(LocalProtocolError, match="not publishing"):
        pair.client.send_audio(stream_id, 0, b"\xaf\x01")
    # The stream can try again.
    pair.client.publish(stream_id, "other")
    pair.pump()
    pair.server.accept_publish(stream_id)
    assert of(pair.pump()[0], PublishStarted)


@pytest.mark.parametrize("code", ["NetStream.Play.StreamNotFound", "NetStream.Play.Failed"])
def test_play_rejected(code: str) -> None:
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.play(stream_id, "missing")
    pair.pump()
    pair.server.reject_play(stream_id, "No such stream.", code=code)
    client_events, _ = pair.pump()
    [rejected] = of(client_events, PlayRejected)
    assert rejected.code == code
    assert pair.client.stream_state(stream_id) is StreamState.IDLE


def test_pending_requests_fail_when_the_server_closes() -> None:
    pair = ConnectionPair()
    pair.connect()
    publishing = pair.create_stream()
    playing = pair.create_stream()
    pair.client.publish(publishing, "a")
    pair.client.play(playing, "b")
    pair.pump()
    events = pair.client.receive_data(b"")
    assert [type(e) for e in events] == [PublishRejected, PlayRejected, ConnectionClosed]
    assert events[0].code == "NetConnection.Connect.Closed"


def test_stop_play_and_reconnect_request() -> None:
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.play(stream_id, "vod")
    pair.pump()
    pair.server.accept_play(stream_id, recorded=True)
    client_events, _ = pair.pump()
    assert of(client_events, StreamRecorded) == [StreamRecorded(stream_id=stream_id)]
    pair.server.stop_play(stream_id)
    client_events, _ = pair.pump()
    assert of(client_events, PlayStopped)
    assert pair.client.stream_state(stream_id) is StreamState.IDLE
    assert pair.server.stream_state(stream_id) is StreamState.IDLE
    pair.server.request_reconnect("rtmp://other/live", "maintenance")
    [event] = of(pair.pump()[0], ReconnectRequested)
    assert (event.tc_url, event.description) == ("rtmp://other/live", "maintenance")


def test_refused_stop_play_sends_nothing() -> None:
    """stop_play on a stream that is not playing raises and leaves no trace: no
    StreamEOF or NetStream.Play.Stop reaches the publisher (found by fuzz_connection)."""
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    pair.client.publish(stream_id, "up")
    pair.pump()
    for accept in (True, False):  # publish pending, then publishing
        with pytest.raises(LocalProtocolError, match="play stopped"):
            pair.server.stop_play(stream_id)
        assert pair.server.data_to_send() == b""
        if accept:
            pair.server.accept_publish(stream_id)
            pair.pump()
    assert pair.server.stream_state(stream_id) is StreamState.PUBLISHING
    assert not of(pair.client_events, PlayStopped)


def test_pause_and_resume() -> None:
    """``pause`` on a playing stream: the server answers at once (StreamEOF and
    NetStream.Pause.Notify; StreamBegin and NetStream.Unpause.Notify) and tells the
    application; a repeated or misplaced pause changes nothing."""
    pair = ConnectionPair()
    pair.connect()
    stream_id = pair.create_stream()
    idle = pair.create_stream()
    with pytest.raises(LocalProtocolError, match="not playing"):
        pair.client.pause(stream_id)
    pair.client.play(stream_id, "live")
    pair.pump()
    pair.server.accept_play(stream_id)
    pair.pump()
    assert not pair.server.paused(stream_id)

    def statuses(events: list[Event]) -> list[str]:
        return [e.code for e in events if isinstance(e, StatusReceived)]

    pair.client.pause(stream_id, True, 1234.0)
    client_events, server_events = pair.pump()
    assert server_events == [PlayPaused(stream_id=stream_id, paused=True, position=1234.0)]
    assert of(client_events, StreamEnded) == [StreamEnded(stream_id=stream_id)]
    assert statuses(client_events) == ["NetStream.Pause.Notify"]
    assert pair.server.paused(stream_id)
    pair.client.pause(stream_id, True, 1300.0)  # again: nothing new
    assert pair.pump() == ([], [])
    pair.client.pause(stream_id, False, 1300.0)
    client_events, server_events = pair.pump()
    assert server_events == [PlayPaused(stream_id=stream_id, paused=False, position=1300.0)]
    assert of(client_events, StreamBegun) == [StreamBegun(stream_id=stream_id)]
    assert statuses(client_events) == ["NetStream.Unpause.Notify"]
    # Without the flag (pauseRaw), it toggles.
    pair.client.call("pause")  # on stream 0: not a playing stream, ignored
    pair.client._command("pause", 0.0, None, stream_id=idle, amf3=False)
    assert pair.pump()[1] == []
    pair.client._command("pause", 0.0, None, stream_id=stream_id, amf3=False)
    assert pair.pump()[1] == [PlayPaused(stream_id=stream_id, paused=True, position=0.0)]
    # A new play (or the end of this one) is not paused.
    pair.server.stop_play(stream_id)
    pair.pump()
    assert not pair.server.paused(stream_id)


def test_several_message_streams_on_one_connection() -> None:
    pair = ConnectionPair()
    pair.connect()
    ids = [pair.create_stream() for _ in range(3)]
    assert ids == [1, 2, 3]
    pair.client.publish(ids[0], "up")
    pair.client.play(ids[2], "down")
    _, server_events = pair.pump()
    assert [type(e) for e in server_events if isinstance(e, PublishRequest | PlayRequest)] == [
        PublishRequest,
        PlayRequest,
    ]
    pair.server.accept_publish(ids[0])
    pair.server.accept_play(ids[2])
    pair.pump()
    pair.client.send_audio(ids[0], 5, b"\xaf\x01up")
    pair.server.send_audio(ids[2], 7, b"\xaf\x01down")
    client_events, server_events = pair.pump()
    assert media_events(server_events) == [
        AudioData(stream_id=ids[0], timestamp=5, payload=b"\xaf\x01up")
    ]
    assert media_events(client_events) == [
        AudioData(stream_id=ids[2], timestamp=7, payload=b"\xaf\x01down")
    ]
    pair.client.delete_stream(ids[1])
    pair.pump()
    assert pair.server.stream_ids == [1, 3]
    assert pair.create_stream() == 2  # the lowest free id is reused


def test_stream_cap() -> None:
    pair = ConnectionPair(server_config=ConnectionConfig(max_message_streams=2))
    pair.connect()
    pair.create_stream()
    pair.create_stream()
    pair.client.create_stream()
    client_events, server_events = pair.pump()
    assert not of(server_events, StreamCreated)
    assert not of(client_events, StreamCreated)
    [error] = [e for e in client_events if type(e).__name__ == "CommandError"]
    assert error.code == "NetConnection.Call.Failed"  # type: ignore[attr-defined]


def test_ping() -> None:
    pair = ConnectionPair()
    pair.connect()
    pair.server.ping(123456)
    _, server_events = pair.pump()
    assert of(server_events, PingResponseReceived) == [PingResponseReceived(ping_time=123456)]
    pair.client.ping(7)
    client_events, _ = pair.pump()
    assert of(client_events, PingResponseReceived) == [PingResponseReceived(ping_time=7)]


def test_acknowledgements_follow_the_window() -> None:
    # The client asks the server to acknowledge every 10,000 bytes.
    config = ConnectionConfig(window_ack_size=10_000)
    pair = ConnectionPair(client_config=config)
    stream_id = publish_session(pair)
    acks: list[int] = []
    for i in range(30):
        pair.client.send_video(stream_id, i * 40, bytes(1000))
        pair.pump()
        pair.pump()
        acks += [e.sequence_number for e in of(pair.client_events, AcknowledgementReceived)]
        pair.client_events.clear()
    assert acks, "the client never got an Acknowledgement"
    # Each Acknowledgement reports what the server had received when it crossed a window.
    assert acks == sorted(acks)
    assert all(b - a >= 10_000 for a, b in itertools.pairwise(acks))
    assert acks[-1] <= pair.server.bytes_received


def test_acknowledgement_count_wraps_at_32_bits() -> None:
    pair = ConnectionPair(client_config=ConnectionConfig(window_ack_size=1000))
    stream_id = publish_session(pair)
    # Pretend the server has already received almost 4 GiB.
    pair.server._received = 0xFFFFFFFF - 100
    pair.server._acked = pair.server._received
    pair.client.send_video(stream_id, 1, bytes(2000))
    pair.pump()
    [ack] = of(pair.client_events, AcknowledgementReceived)
    assert ack.sequence_number < 5000  # wrapped past 2^32
    assert ack.sequence_number == (pair.server.bytes_received & 0xFFFFFFFF)


def test_chunk_size_changes_in_the_middle_of_media() -> None:
    pair = ConnectionPair()
    stream_id = publish_session(pair)
    got: list[Event] = []
    for size in (100, 7, 60000, 128, 1):
        send_media(pair.client, stream_id)
        pair.client.set_chunk_size(size)
        got += media_events(pair.pump()[1])
    assert got == expected_media(stream_id) * 5
    assert pair.server.peer_chunk_size == 1


def test_messages_sent_while_connect_is_pending_are_held() -> None:
    pair = ConnectionPair()
    pair.client.connect(app="live", tc_url="rtmp://h/live")
    pair.pump()
    # A client that does not wait: createStream before connect is answered.
    pair.client._state = ConnectionState.CONNECTED
    pair.client.create_stream()
    pair.client._state = ConnectionState.CONNECTING
    _, server_events = pair.pump()
    assert not of(server_events, StreamCreated)
    events = pair.server.accept_connect()
    assert of(events, StreamCreated) == [StreamCreated(stream_id=1, transaction_id=2.0)]


def test_a_violation_held_while_connect_is_pending_fails_the_connection() -> None:
    # Held messages are handled by accept_connect; one that breaks the rules (a play
    # on a stream that is being published) fails the connection there, for good, as
    # it would have in receive_data (a fuzz_connection finding: it stayed CONNECTED).
    pair = ConnectionPair()
    pair.client.connect(app="live", tc_url="rtmp://h/live")
    pair.pump()
    for held in ("createStream", "publish", "play"):
        assert pair.server.receive_data(INCOMING[held]) == []
    with pytest.raises(RemoteProtocolError, match="'play' is not allowed"):
        pair.server.accept_connect()
    assert pair.server.state is ConnectionState.ERROR
    with pytest.raises(LocalProtocolError):
        pair.server.receive_data(INCOMING["createStream"])


@pytest.mark.parametrize("kind", ["commands and data", "bytes"])
def test_what_is_held_while_connect_is_pending_is_bounded(kind: str) -> None:
    # accept_connect handles every held message at once, so what is held is bounded
    # in AMF to decode as well as in number and in memory.  A data message over the
    # AMF limit is never decoded: it costs nothing.
    limits = Limits(max_amf_message_size=4096, max_buffered_bytes=65536)
    pair = ConnectionPair(server_config=ConnectionConfig(limits=limits))
    pair.client.connect(app="live", tc_url="rtmp://h/live")
    pair.pump()
    writer = ChunkWriter(chunk_size=pair.server.peer_chunk_size)

    def send(value: Any) -> list[Event]:
        writer.write(*encode_message(value, chunk_stream_id=8))
        return pair.server.receive_data(writer.data_to_send())

    if kind == "bytes":
        held: Any = Video(payload=bytes(30000), message_stream_id=1)
    else:
        held = Data(values=("onTextData", "x" * 1500))
        assert send(Data(values=("onMetaData", "x" * 5000))) == []
    assert send(held) == []
    assert send(held) == []
    with pytest.raises(RemoteProtocolError, match=f"more than .* {kind} before connect"):
        send(held)
    assert pair.server.state is ConnectionState.ERROR


def test_the_number_of_messages_held_while_connect_is_pending_is_bounded() -> None:
    pair = ConnectionPair(server_config=ConnectionConfig(max_deferred_messages=3))
    pair.client.connect(app="live", tc_url="rtmp://h/live")
    pair.pump()
    writer = ChunkWriter(chunk_size=pair.server.peer_chunk_size)
    held = Audio(payload=b"\xaf\x01x", message_stream_id=1)
    for _ in range(3):
        writer.write(*encode_message(held, chunk_stream_id=8))
        assert pair.server.receive_data(writer.data_to_send()) == []
    writer.write(*encode_message(held, chunk_stream_id=8))
    with pytest.raises(RemoteProtocolError, match="more than 3 messages before connect"):
        pair.server.receive_data(writer.data_to_send())
    assert pair.server.state is ConnectionState.ERROR


def media_pair(
    publish: bool, limits: Limits
) -> tuple[
    ConnectionPair, int, ClientConnection | ServerConnection, ClientConnection | ServerConnection
]:
    """A pair with a stream the client publishes (or plays), both sides under ``limits``.

    Returns the pair, the stream id, and the connection that sends the media and the
    one that receives it.  A player's connection uses AMF3, a publisher's AMF0.
    """
    config = ConnectionConfig(limits=limits)
    pair = ConnectionPair(client_config=config, server_config=config)
    pair.client.connect(app="live", tc_url="rtmp://h/live", object_encoding=0 if publish else 3)
    pair.pump()
    pair.server.accept_connect()
    pair.pump()
    stream_id = pair.create_stream()
    sender: ClientConnection | ServerConnection
    if publish:
        pair.client.publish(stream_id, "key")
        pair.pump()
        pair.server.accept_publish(stream_id)
        sender, receiver = pair.client, pair.server
    else:
        pair.client.play(stream_id, "key")
        pair.pump()
        pair.server.accept_play(stream_id)
        sender, receiver = pair.server, pair.client
    pair.pump()
    return pair, stream_id, sender, receiver


@pytest.mark.parametrize("direction", ["publish", "play"])
def test_data_messages_over_the_amf_limit_are_passed_up_undecoded(direction: str) -> None:
    # An onMetaData with a file's keyframe index, as FFmpeg (add_keyframe_index),
    # yamdi and flvtool2 write it: bigger than max_amf_message_size.  Not decoded, not
    # fatal: the media go on.  Both roles, and AMF0 (publish) and AMF3 (play, on an
    # AMF3 connection) data messages.  Commands over the limit still end the connection.
    publish = direction == "publish"
    pair, stream_id, sender, receiver = media_pair(publish, Limits(max_amf_message_size=4096))
    index = {"filepositions": [float(i * 900) for i in range(600)], "times": [0.5] * 600}
    metadata = {"width": 320.0, "keyframes": index}
    sender.send_metadata(stream_id, metadata)
    sender.send_data(stream_id, ("onCuePoint", {"name": "small"}))
    sender.send_data_body(stream_id, codec.encode("onTextData", {"text": "as encoded"}))
    sender.send_video(stream_id, 40, b"\x17\x01\x00\x00\x00frame")
    client_events, server_events = pair.pump()
    events = server_events if publish else client_events
    names = ("@setDataFrame", "onMetaData") if publish else ("onMetaData",)
    [big] = of(events, DataTooLarge)
    assert (big.stream_id, big.names, big.amf3) == (stream_id, names, not publish)
    assert len(big.payload) > 4096
    assert codec.decode(big.payload) == [*names, metadata]
    assert not of(events, StreamMetadata)
    [cue] = [e for e in of(events, DataReceived) if e.values[0] == "onCuePoint"]
    assert cue.values == ("onCuePoint", {"name": "small"})
    [text] = [e for e in of(events, DataReceived) if e.values[0] == "onTextData"]
    assert text.values == ("onTextData", {"text": "as encoded"})
    [video] = of(events, VideoData)
    assert video.payload == b"\x17\x01\x00\x00\x00frame"
    assert receiver.state is ConnectionState.CONNECTED
    pair.client.call("hello", None, "x" * 5000)
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        pair.pump()


@pytest.mark.parametrize("direction", ["publish", "play"])
def test_an_aggregate_of_too_many_sub_messages_fails_the_connection(direction: str) -> None:
    _, stream_id, _, receiver = media_pair(direction == "publish", Limits(max_aggregate_messages=4))
    audio = Audio(payload=b"\xaf\x01x", message_stream_id=stream_id)
    writer = ChunkWriter(chunk_size=ConnectionConfig().chunk_size)
    for count in (4, 5):
        raw = encode_message(Aggregate(messages=(audio,) * count, message_stream_id=stream_id))
        writer.write(30, raw.type_id, raw.timestamp, raw.message_stream_id, raw.payload)
        if count == 4:
            events = receiver.receive_data(writer.data_to_send())
            assert [type(e) for e in events] == [AudioData] * 4
    with pytest.raises(RemoteProtocolError, match="more than 4 messages in an aggregate"):
        receiver.receive_data(writer.data_to_send())
    assert receiver.state is ConnectionState.ERROR


@pytest.mark.parametrize("direction", ["publish", "play"])
def test_input_steps_count_every_message_and_lone_chunk(direction: str) -> None:
    """``input_steps`` counts each message handled, an aggregate's each (and the
    aggregate), media for a stream that does not exist (dropped, no event), and the
    chunk reader's steps."""
    _, stream_id, _, receiver = media_pair(direction == "publish", Limits())
    audio = Audio(payload=b"\xaf\x01x", message_stream_id=stream_id)
    writer = ChunkWriter(chunk_size=ConnectionConfig().chunk_size)
    before = receiver.input_steps
    raw = encode_message(Aggregate(messages=(audio,) * 5, message_stream_id=stream_id))
    writer.write(30, raw.type_id, raw.timestamp, raw.message_stream_id, raw.payload)
    for _ in range(3):
        writer.write(31, 8, 0, 7, b"\xaf\x01x")
    events = receiver.receive_data(writer.data_to_send())
    assert [type(e) for e in events] == [AudioData] * 5
    assert receiver.input_steps - before == 1 + 5 + 3
    # Two 8-chunk messages whose chunks come in turn: 16 chunks, 2 of them complete
    # a message.
    size = ConnectionConfig().chunk_size
    first = ChunkWriter(chunk_size=size)
    first.write(32, 8, 0, stream_id, b"\xaf\x01" + bytes(8 * size - 2))
    second = ChunkWriter(chunk_size=size)
    second.write(33, 8, 0, stream_id, b"\xaf\x01" + bytes(8 * size - 2))
    a, b = first.data_to_send(), second.data_to_send()
    cuts = [0, *range(12 + size, len(a), size + 1), len(a)]
    interleaved = b"".join(a[i:j] + b[i:j] for i, j in itertools.pairwise(cuts))
    before = receiver.input_steps
    assert [type(e) for e in receiver.receive_data(interleaved)] == [AudioData] * 2
    assert receiver.input_steps - before == 2 + 14


@pytest.mark.parametrize("direction", ["publish", "play"])
def test_aggregates_are_handled_as_their_sub_messages(direction: str) -> None:
    # Servers such as FMS and Wowza send their players aggregates of media.  Each
    # sub-message is handled as if it had come alone, with its timestamp re-based, and
    # the AMF messages of one aggregate share the AMF limit: a data message that does
    # not fit in what is left is passed up undecoded, as one over the limit is.
    publish = direction == "publish"
    _, stream_id, _, receiver = media_pair(publish, Limits(max_amf_message_size=4096))
    env = {"message_stream_id": stream_id}
    small = Data(values=("onCuePoint", {"name": "small"}), timestamp=1040, **env)
    big = Data(values=("onTextData", {"text": "x" * 5000}), timestamp=1050, **env)
    middling = Data(values=("onTextData", {"text": "y" * 3000}), timestamp=1060, **env)
    parts = (
        Video(payload=b"\x17\x01\x00\x00\x00frame", timestamp=1000, **env),
        Audio(payload=b"\xaf\x01" + bytes(300), timestamp=1020, **env),
        small,
        big,
        middling,
        middling,
        Video(payload=b"\x27\x01" + bytes(9000), timestamp=1080, **env),
    )
    writer = ChunkWriter(chunk_size=ConnectionConfig().chunk_size)

    def send(*messages: Any) -> list[Event]:
        raw = encode_message(Aggregate(messages=messages, timestamp=5000, **env))
        writer.write(30, raw.type_id, raw.timestamp, raw.message_stream_id, raw.payload)
        return receiver.receive_data(writer.data_to_send())

    got = [
        (type(e).__name__, e.timestamp)
        for e in send(*parts)
        if isinstance(e, VideoData | AudioData | DataReceived | DataTooLarge)
    ]
    assert got == [
        ("VideoData", 5000),
        ("AudioData", 5020),
        ("DataReceived", 5040),
        ("DataTooLarge", 5050),
        ("DataReceived", 5060),
        ("DataTooLarge", 5060),
        ("VideoData", 5080),
    ]
    assert receiver.state is ConnectionState.CONNECTED
    # A command that does not fit is an error, as one over the limit is.
    hello = Command(name="hello", transaction_id=0.0, arguments=("z" * 3000,), **env)
    with pytest.raises(RemoteProtocolError, match="AMF messages of an aggregate exceed"):
        send(hello, hello)
    assert receiver.state is ConnectionState.ERROR


@pytest.mark.parametrize("direction", ["publish", "play"])
def test_each_step_decodes_at_most_the_amf_limit(direction: str) -> None:
    # A peer can leave a big AMF message in progress on each of many chunk streams and
    # complete them all with one small read.  Decoded at once, 64 worst-case messages
    # of 64 KiB hold an event loop for over a second; next_events takes them one
    # step at a time, each decoding at most max_amf_message_size (media cost nothing).
    publish = direction == "publish"
    limits = Limits(max_amf_message_size=16384)
    _, stream_id, _, receiver = media_pair(publish, limits)
    _, _, _, twin = media_pair(publish, limits)
    heads, tails = amf_burst(stream_id, 10, 12000)
    receiver.feed_data(heads)
    assert receiver.next_events() == []
    assert not receiver.has_pending_input
    receiver.feed_data(tails)
    steps = []
    while receiver.has_pending_input:
        steps.append([type(e).__name__ for e in receiver.next_events()])
    expected = [["DataReceived"]] * 10
    expected[2] = ["DataReceived", "AudioData"]
    assert steps == expected
    # receive_data takes all the steps at once.
    assert twin.receive_data(heads) == []
    assert [type(e).__name__ for e in twin.receive_data(tails)] == list(
        itertools.chain.from_iterable(expected)
    )


def test_stepwise_input_is_handled_before_more_is_fed() -> None:
    _, stream_id, sender, receiver = media_pair(True, Limits(max_amf_message_size=16384))
    heads, tails = amf_burst(stream_id, 3, 12000)
    receiver.feed_data(heads + tails)
    assert [type(e).__name__ for e in receiver.next_events()] == ["DataReceived"]
    # More input while some is unhandled: refused (the queue must not grow without
    # bound), and nothing changes.
    sender.send_audio(stream_id, 0, b"\xaf\x01")
    more = sender.data_to_send()
    for feed in (receiver.feed_data, receiver.receive_data):
        with pytest.raises(LocalProtocolError, match="unhandled input"):
            feed(more)
        with pytest.raises(LocalProtocolError, match="unhandled input"):
            feed(b"")
    assert [type(e).__name__ for e in receiver.next_events()] == ["DataReceived"]
    assert [type(e).__name__ for e in receiver.next_events()] == ["DataReceived", "AudioData"]
    assert not receiver.has_pending_input
    assert receiver.next_events() == []
    assert [type(e).__name__ for e in receiver.receive_data(more)] == ["AudioData"]
    receiver.feed_data(b"")
    assert receiver.has_pending_input
    assert receiver.next_events() == [ConnectionClosed()]
    assert receiver.state is ConnectionState.CLOSED
    assert not receiver.has_pending_input


def test_every_feed_is_followed_by_a_step() -> None:
    # Even one that makes no event and completes no message (the handshake answers
    # come from feed_data): the same loop serves every input.
    client = ClientConnection(random=CLIENT_RANDOM)
    server = ServerConnection(random=SERVER_RANDOM)
    c0c1 = client.data_to_send()
    for piece in (c0c1[:100], c0c1[100:]):
        server.feed_data(piece)
        assert server.has_pending_input
        assert server.next_events() == []
        assert not server.has_pending_input
    assert len(server.data_to_send()) == 1 + 2 * 1536


def test_closing_between_steps_drops_what_is_unhandled() -> None:
    _, stream_id, _, receiver = media_pair(False, Limits(max_amf_message_size=16384))
    heads, tails = amf_burst(stream_id, 3, 12000)
    receiver.feed_data(heads + tails)
    assert [type(e).__name__ for e in receiver.next_events()] == ["DataReceived"]
    receiver.close()
    assert receiver.next_events() == []
    assert not receiver.has_pending_input
    receiver.feed_data(tails)
    assert not receiver.has_pending_input


def test_amf3_connection() -> None:
    pair = ConnectionPair()
    pair.client.connect(app="live", tc_url="rtmp://h/live", object_encoding=3)
    _, server_events = pair.pump()
    assert of(server_events, ConnectRequest)[0].object_encoding == 3.0
    pair.server.accept_connect()
    client_events, _ = pair.pump()
    assert of(client_events, Connected)[0].information["objectEncoding"] == 3.0
    stream_id = pair.create_stream()
    pair.client.publish(stream_id, "k")
    pair.pump()
    pair.server.accept_publish(stream_id)
    assert of(pair.pump()[0], PublishStarted)


def test_amf3_commands_are_answered_in_amf3() -> None:
    server = ServerConnection(random=SERVER_RANDOM)
    client = ClientConnection(random=CLIENT_RANDOM)
    client.connect(app="live", tc_url="rtmp://h/live", object_encoding=3)
    while out := client.data_to_send():
        server.receive_data(out)
        if back := server.data_to_send():
            client.receive_data(back)
    server.accept_connect()
    reader = ChunkReader()
    raw = server.data_to_send()
    commands = [decode_message(m) for m in reader.receive_data(raw) if m.type_id in (17, 20)]
    assert [c.name for c in commands] == ["_result", "onBWDone"]  # type: ignore[union-attr]
    assert all(c.amf3 for c in commands)  # type: ignore[union-attr]


def test_custom_commands_reach_the_application_and_can_be_answered() -> None:
    pair = ConnectionPair()
    pair.connect()
    transaction_id = pair.client.call("getServerTime", None, "utc")
    _, server_events = pair.pump()
    [received] = of(server_events, CommandReceived)
    assert received.command.name == "getServerTime"
    assert received.command.arguments == ("utc",)
    pair.server.send_result(received.command.transaction_id, None, 1234.0)
    client_events, _ = pair.pump()
    assert of(client_events, CommandResult) == [
        CommandResult(
            transaction_id=transaction_id,
            request="getServerTime",
            command_object=None,
            arguments=(1234.0,),
        )
    ]


# ---------------------------------------------------------------------------
# Local mistakes


def test_local_mistakes_name_role_and_state() -> None:
    pair = ConnectionPair()
    with pytest.raises(LocalProtocolError, match="not connected"):
        pair.client.create_stream()
    pair.connect()
    stream_id = pair.create_stream()
    with pytest.raises(LocalProtocolError, match=r"'publish accepted'.*server.*idle"):
        pair.server.accept_publish(stream_id)
    with pytest.raises(LocalProtocolError, match="no stream 9"):
        pair.client.publish(9, "x")
    with pytest.raises(LocalProtocolError, match="not playing"):
        pair.server.send_video(stream_id, 0, b"")
    with pytest.raises(LocalProtocolError):
        pair.server.accept_connect()
    with pytest.raises(LocalProtocolError):
        pair.client.connect(app="again", tc_url="rtmp://h/again")


# ---------------------------------------------------------------------------
# Every (state, incoming message) pair: a legal state or a ProtocolError


def _command(name: str, *args: Any, stream_id: int = 0, txn: float = 5.0) -> bytes:
    writer = ChunkWriter()
    writer.write(
        *encode_message(
            Command(name=name, transaction_id=txn, arguments=args, message_stream_id=stream_id)
        )
    )
    return writer.data_to_send()


def _garbage_command() -> bytes:
    writer = ChunkWriter()
    writer.write(3, 20, 0, 0, b"\x02\x00\x09conn")  # a truncated AMF0 string
    return writer.data_to_send()


def _raw(value: Any) -> bytes:
    writer = ChunkWriter()
    writer.write(*encode_message(value))
    return writer.data_to_send()


INCOMING = {
    "connect": _command("connect"),
    "createStream": _command("createStream"),
    "publish": _command("publish", "k", "live", stream_id=1),
    "play": _command("play", "k", stream_id=1),
    "closeStream": _command("closeStream", stream_id=1),
    "deleteStream": _command("deleteStream", 1.0),
    "pause": _command("pause", True, 0.0, stream_id=1),
    "unpause": _command("pause", False, 1500.0, stream_id=1),
    "pause-toggle": _command("pause", stream_id=1),
    "pause-odd-arguments": _command("pause", "yes", {"x": 1.0}, None, stream_id=1),
    "FCUnpublish": _command("FCUnpublish", "k"),
    "releaseStream": _command("releaseStream", "k"),
    "_result": _command("_result", None, 1.0, txn=99.0),
    "onStatus-publish-start": _command(
        "onStatus", {"level": "status", "code": "NetStream.Publish.Start"}, stream_id=1, txn=0.0
    ),
    "onStatus-play-start": _command(
        "onStatus", {"level": "status", "code": "NetStream.Play.Start"}, stream_id=1, txn=0.0
    ),
    "onStatus-play-stop": _command(
        "onStatus", {"level": "status", "code": "NetStream.Play.Stop"}, stream_id=1, txn=0.0
    ),
    "onStatus-error": _command(
        "onStatus", {"level": "error", "code": "NetStream.Play.Failed"}, stream_id=1, txn=0.0
    ),
    "audio": _raw(Audio(payload=b"\xaf\x01x", message_stream_id=1)),
    "audio-stream-7": _raw(Audio(payload=b"\xaf\x01x", message_stream_id=7)),
    "metadata": _raw(Data(values=("@setDataFrame", "onMetaData", {"a": 1.0}), message_stream_id=1)),
    "set-chunk-size": _raw(SetChunkSize(chunk_size=64)),
    "garbage-command": _garbage_command(),
}


def _server_in(state: str) -> ServerConnection:
    """A server connection driven (by a real client) into a named state."""
    pair = ConnectionPair()
    if state == "idle":
        # Only the handshake, so the server has seen no connect.
        server = ServerConnection(random=SERVER_RANDOM)
        client = ClientConnection(random=CLIENT_RANDOM)
        for _ in range(3):
            if out := client.data_to_send():
                server.receive_data(out)
            if out := server.data_to_send():
                client.receive_data(out)
        assert server.state is ConnectionState.IDLE
        return server
    if state == "connecting":
        pair.client.connect(app="live", tc_url="rtmp://h/live")
        pair.pump()
        return pair.server
    pair.connect()
    if state == "connected":
        return pair.server
    stream_id = pair.create_stream()
    if state in ("publish pending", "publishing"):
        pair.client.publish(stream_id, "k")
        pair.pump()
        if state == "publishing":
            pair.server.accept_publish(stream_id)
    elif state in ("play pending", "playing"):
        pair.client.play(stream_id, "k")
        pair.pump()
        if state == "playing":
            pair.server.accept_play(stream_id)
    pair.pump()
    return pair.server


SERVER_STATES = [
    "idle",
    "connecting",
    "connected",
    "stream idle",
    "publish pending",
    "publishing",
    "play pending",
    "playing",
]
LEGAL_CONNECTION_STATES = set(ConnectionState)
LEGAL_STREAM_STATES = {state for (state, _), _ in STREAM_TRANSITIONS.items()} | set(
    STREAM_TRANSITIONS.values()
)


@pytest.mark.parametrize("state", SERVER_STATES)
@pytest.mark.parametrize("incoming", sorted(INCOMING))
def test_server_every_state_and_message(state: str, incoming: str) -> None:
    server = _server_in(state)
    before = server.state
    try:
        server.receive_data(INCOMING[incoming])
    except ProtocolError:
        assert server.state is ConnectionState.ERROR
        with pytest.raises(LocalProtocolError):
            server.receive_data(b"x")
        return
    assert server.state in LEGAL_CONNECTION_STATES
    assert (before, server.state) in {(a, b) for (a, _), b in CONNECTION_TRANSITIONS.items()} | {
        (before, before)
    }
    for stream_id in server.stream_ids:
        assert server.stream_state(stream_id) in LEGAL_STREAM_STATES


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    state=st.sampled_from(SERVER_STATES),
    sequence=st.lists(st.sampled_from(sorted(INCOMING)), max_size=6),
)
def test_server_any_sequence_of_messages(state: str, sequence: list[str]) -> None:
    server = _server_in(state)
    for name in sequence:
        try:
            server.receive_data(INCOMING[name])
        except ProtocolError:
            assert server.state is ConnectionState.ERROR
            return
        assert server.state in LEGAL_CONNECTION_STATES
        for stream_id in server.stream_ids:
            assert server.stream_state(stream_id) in LEGAL_STREAM_STATES


def _client_in(state: str) -> tuple[ClientConnection, ServerConnection]:
    pair = ConnectionPair()
    pair.connect()
    if state == "connected":
        return pair.client, pair.server
    stream_id = pair.create_stream()
    if state in ("publish pending", "publishing"):
        pair.client.publish(stream_id, "k")
        pair.pump()
        if state == "publishing":
            pair.server.accept_publish(stream_id)
    elif state in ("play pending", "playing"):
        pair.client.play(stream_id, "k")
        pair.pump()
        if state == "playing":
            pair.server.accept_play(stream_id)
    pair.pump()
    return pair.client, pair.server


@pytest.mark.parametrize(
    "state",
    ["connected", "stream idle", "publish pending", "publishing", "play pending", "playing"],
)
@pytest.mark.parametrize("incoming", sorted(INCOMING))
def test_client_every_state_and_message(state: str, incoming: str) -> None:
    client, _ = _client_in(state)
    try:
        client.receive_data(INCOMING[incoming])
    except ProtocolError:
        assert client.state is ConnectionState.ERROR
        return
    assert client.state in LEGAL_CONNECTION_STATES
    for stream_id in client.stream_ids:
        assert client.stream_state(stream_id) in LEGAL_STREAM_STATES


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_after_the_handshake(data: bytes) -> None:
    for conn in _server_in("connected"), _client_in("connected")[0]:
        try:
            conn.receive_data(data)
        except ProtocolError:
            assert conn.state is ConnectionState.ERROR


def test_state_table_has_no_dead_ends() -> None:
    reachable = {StreamState.IDLE}
    changed = True
    while changed:
        changed = False
        for (state, _), target in STREAM_TRANSITIONS.items():
            if state in reachable and target not in reachable:
                reachable.add(target)
                changed = True
    assert reachable == set(StreamState)
