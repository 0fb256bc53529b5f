"""Typed RTMP messages: every type round trips, bodies match the specification's
layout, and arbitrary bodies raise only ProtocolErrors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_rtmp.core import amf0
from trio_rtmp.core.chunks import ChunkReader, ChunkWriter, Message
from trio_rtmp.core.config import Limits
from trio_rtmp.core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from trio_rtmp.core.messages import (
    Abort,
    Acknowledgement,
    Aggregate,
    Audio,
    Command,
    Data,
    LimitType,
    PingRequest,
    PingResponse,
    RTMPMessage,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    SharedObject,
    StreamBegin,
    StreamDry,
    StreamEOF,
    StreamIsRecorded,
    UnknownMessage,
    UnknownUserControl,
    Video,
    WindowAckSize,
    decode_message,
    default_chunk_stream_id,
    encode_message,
    split_aggregate,
)

u32 = st.integers(0, 0xFFFFFFFF)
envelopes = st.fixed_dictionaries({"timestamp": u32, "message_stream_id": u32})

# AMF values that compare equal after a round trip (no NaN, no cycles).
amf_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
amf_values = st.recursive(
    amf_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)


def with_envelope(cls: type, **fields: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return envelopes.flatmap(
        lambda env: st.builds(cls, **fields, **{k: st.just(v) for k, v in env.items()})
    )


media_payloads = st.binary(max_size=300)

simple_messages: st.SearchStrategy[RTMPMessage] = st.one_of(
    with_envelope(SetChunkSize, chunk_size=st.integers(1, 0x7FFFFFFF)),
    with_envelope(Abort, chunk_stream_id=st.integers(2, 65599)),
    with_envelope(Acknowledgement, sequence_number=u32),
    with_envelope(WindowAckSize, window_size=u32),
    with_envelope(SetPeerBandwidth, window_size=u32, limit_type=st.integers(0, 255)),
    with_envelope(StreamBegin, stream_id=u32),
    with_envelope(StreamEOF, stream_id=u32),
    with_envelope(StreamDry, stream_id=u32),
    with_envelope(StreamIsRecorded, stream_id=u32),
    with_envelope(SetBufferLength, stream_id=u32, buffer_length=u32),
    with_envelope(PingRequest, ping_time=u32),
    with_envelope(PingResponse, ping_time=u32),
    with_envelope(
        UnknownUserControl,
        event_type=st.integers(0, 0xFFFF).filter(lambda e: e not in {0, 1, 2, 3, 4, 6, 7}),
        data=st.binary(max_size=20),
    ),
    with_envelope(
        Command,
        name=st.text(max_size=20),
        transaction_id=st.floats(allow_nan=False),
        command_object=amf_values,
        arguments=st.lists(amf_values, max_size=3).map(tuple),
        amf3=st.booleans(),
    ),
    with_envelope(Data, values=st.lists(amf_values, max_size=4).map(tuple), amf3=st.booleans()),
    with_envelope(SharedObject, payload=st.binary(max_size=50), amf3=st.booleans()),
    with_envelope(Audio, payload=media_payloads),
    with_envelope(Video, payload=media_payloads),
    with_envelope(
        UnknownMessage,
        type_id=st.integers(0, 255).filter(
            lambda t: t not in {1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22}
        ),
        payload=st.binary(max_size=50),
    ),
)


@st.composite
def aggregates(draw: st.DrawFn) -> Aggregate:
    env = draw(envelopes)
    count = draw(st.integers(0, 5))
    start = env["timestamp"]
    parts: list[RTMPMessage] = []
    offset = 0
    for _ in range(count):
        kind = draw(st.sampled_from([Audio, Video]))
        parts.append(
            kind(
                payload=draw(media_payloads),
                timestamp=(start + offset) & 0xFFFFFFFF,
                message_stream_id=env["message_stream_id"],
            )
        )
        offset += draw(st.integers(0, 100))
    parts += [
        Data(
            values=("onMetaData", {"duration": 1.0}),
            timestamp=(start + offset) & 0xFFFFFFFF,
            message_stream_id=env["message_stream_id"],
        )
    ] * draw(st.integers(0, 1))
    return Aggregate(messages=tuple(parts), **env)


all_messages = st.one_of(simple_messages, aggregates())


@settings(max_examples=400)
@given(all_messages)
def test_round_trip(value: RTMPMessage) -> None:
    raw = encode_message(value)
    assert decode_message(raw) == value


@settings(max_examples=100)
@given(st.lists(all_messages, max_size=8), st.integers(1, 500))
def test_round_trip_through_the_chunk_stream(values: list[RTMPMessage], chunk_size: int) -> None:
    writer = ChunkWriter(chunk_size=chunk_size)
    # The values include Set Chunk Size messages of any legal size.
    reader = ChunkReader(limits=Limits(max_chunk_size=0x7FFFFFFF))
    reader.set_chunk_size(chunk_size)
    for value in values:
        writer.write(*encode_message(value))
    got = [decode_message(m) for m in reader.receive_data(writer.data_to_send())]
    assert got == values


@pytest.mark.parametrize(
    ("value", "type_id", "body"),
    [
        (SetChunkSize(chunk_size=4096), 1, b"\x00\x00\x10\x00"),
        (Abort(chunk_stream_id=6), 2, b"\x00\x00\x00\x06"),
        (Acknowledgement(sequence_number=0xFFFFFFFF), 3, b"\xff\xff\xff\xff"),
        (StreamBegin(stream_id=1), 4, b"\x00\x00\x00\x00\x00\x01"),
        (StreamEOF(stream_id=1), 4, b"\x00\x01\x00\x00\x00\x01"),
        (StreamDry(stream_id=1), 4, b"\x00\x02\x00\x00\x00\x01"),
        (
            SetBufferLength(stream_id=1, buffer_length=3000),
            4,
            b"\x00\x03\x00\x00\x00\x01\x00\x00\x0b\xb8",
        ),
        (StreamIsRecorded(stream_id=2), 4, b"\x00\x04\x00\x00\x00\x02"),
        (PingRequest(ping_time=258), 4, b"\x00\x06\x00\x00\x01\x02"),
        (PingResponse(ping_time=258), 4, b"\x00\x07\x00\x00\x01\x02"),
        (
            UnknownUserControl(event_type=31, data=b"\x00\x00\x00\x01"),
            4,
            b"\x00\x1f\x00\x00\x00\x01",
        ),
        (WindowAckSize(window_size=2500000), 5, b"\x00\x26\x25\xa0"),
        (
            SetPeerBandwidth(window_size=2500000, limit_type=LimitType.DYNAMIC),
            6,
            b"\x00\x26\x25\xa0\x02",
        ),
        (Audio(payload=b"\xaf\x01xx"), 8, b"\xaf\x01xx"),
        (Video(payload=b"\x17\x01"), 9, b"\x17\x01"),
        (
            Command(name="_result", transaction_id=1.0, command_object=None, arguments=(1.0,)),
            20,
            b"\x02\x00\x07_result\x00\x3f\xf0\x00\x00\x00\x00\x00\x00\x05\x00\x3f\xf0\x00\x00\x00\x00\x00\x00",
        ),
        (
            Command(name="x", transaction_id=0.0, amf3=True),
            17,
            b"\x00\x02\x00\x01x\x00" + bytes(8) + b"\x05",
        ),
        (Data(values=("onMetaData",)), 18, b"\x02\x00\x0aonMetaData"),
        (Data(values=("a",), amf3=True), 15, b"\x00\x02\x00\x01a"),
        (SharedObject(payload=b"so"), 19, b"so"),
        (SharedObject(payload=b"so", amf3=True), 16, b"so"),
        (UnknownMessage(type_id=7, payload=b"edge"), 7, b"edge"),
    ],
)
def test_bodies_match_the_specification(value: RTMPMessage, type_id: int, body: bytes) -> None:
    raw = encode_message(value)
    assert (raw.type_id, raw.payload) == (type_id, body)
    assert decode_message(raw) == value


def test_aggregate_sub_messages_are_rebased() -> None:
    # Sub-messages stamped 5000 and 5040 inside an aggregate stamped 100.
    def tag(type_id: int, ts: int, body: bytes) -> bytes:
        header = (
            bytes([type_id]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        )
        header += bytes([ts >> 24]) + b"\x00\x00\x00"
        return header + body + (11 + len(body)).to_bytes(4, "big")

    payload = (
        tag(9, 5000, b"\x17\x01vid")
        + tag(8, 5040, b"\xaf\x01aud")
        + tag(9, 0x01000000 + 5000, b"hi")
    )
    got = decode_message(Message(6, 22, 100, 1, payload))
    assert isinstance(got, Aggregate)
    assert got.messages == (
        Video(payload=b"\x17\x01vid", timestamp=100, message_stream_id=1),
        Audio(payload=b"\xaf\x01aud", timestamp=140, message_stream_id=1),
        Video(payload=b"hi", timestamp=100 + 0x01000000, message_stream_id=1),
    )
    # The trailing back pointer may be missing.
    assert decode_message(Message(6, 22, 100, 1, payload[:-4])) == got


@settings(max_examples=200)
@given(aggregates(), st.integers(2, 65599))
def test_split_aggregate_gives_the_sub_messages_undecoded(
    value: Aggregate, chunk_stream_id: int
) -> None:
    raw = encode_message(value)._replace(chunk_stream_id=chunk_stream_id)
    parts = split_aggregate(raw)
    assert [decode_message(part) for part in parts] == list(value.messages)
    assert all(
        (part.chunk_stream_id, part.message_stream_id) == (chunk_stream_id, value.message_stream_id)
        and type(part.payload) is bytes
        for part in parts
    )


def test_the_sub_messages_of_an_aggregate_are_bounded() -> None:
    # Each sub-message becomes a message and an event: 8 MiB of empty 15-byte ones
    # would cost ten times the aggregate.  Limits.max_aggregate_messages bounds them.
    assert Limits().max_aggregate_messages >= 16384
    audio = Audio(payload=b"", message_stream_id=1)
    three = encode_message(Aggregate(messages=(audio,) * 3, message_stream_id=1))
    four = encode_message(Aggregate(messages=(audio,) * 4, message_stream_id=1))
    limits = Limits(max_aggregate_messages=3)
    assert len(split_aggregate(three, max_messages=3)) == 3
    assert len(decode_message(three, limits=limits).messages) == 3  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError, match="more than 3 messages in an aggregate"):
        split_aggregate(four, max_messages=3)
    with pytest.raises(RemoteProtocolError, match="more than 3 messages in an aggregate"):
        decode_message(four, limits=limits)
    # The default holds for split_aggregate as for decode_message.
    many = Message(6, 22, 0, 1, bytes.fromhex("08000000 00000000 000000 0000000b") * 16385)
    with pytest.raises(RemoteProtocolError, match="more than 16384 messages"):
        split_aggregate(many)
    with pytest.raises(RemoteProtocolError, match="more than 16384 messages"):
        decode_message(many)


def test_the_amf_messages_of_an_aggregate_share_the_amf_limit() -> None:
    # Each of these is under the limit; together they are over it.  One aggregate must
    # not buy more AMF decoding than one message (CPU per value).
    limits = Limits(max_amf_message_size=4096)
    one = Data(values=("onTextData", {"text": "x" * 2500}), message_stream_id=1)
    video = Video(payload=b"\x17\x01" + bytes(8000), message_stream_id=1)
    assert len(encode_message(one).payload) < 4096
    assert decode_message(encode_message(Aggregate(messages=(one, video))), limits=limits)
    both = encode_message(Aggregate(messages=(one, video, one), message_stream_id=1))
    with pytest.raises(RemoteProtocolError, match="AMF messages in an aggregate total"):
        decode_message(both, limits=limits)
    # Audio and video do not count.
    many_videos = Aggregate(messages=(one,) + (video,) * 10, message_stream_id=1)
    assert decode_message(encode_message(many_videos), limits=limits) == many_videos
    assert decode_message(both, limits=Limits(max_amf_message_size=6000)).messages[2] == one
    # Splitting decodes nothing, so no AMF limit applies to it.
    assert [m.type_id for m in split_aggregate(both)] == [18, 9, 18]


@pytest.mark.parametrize(
    "payload",
    [
        b"\x09\x00\x00\x10" + bytes(7) + b"short",  # inner size runs past the end
        b"\x09\x00\x00",  # truncated header
        b"\x16\x00\x00\x00" + bytes(7) + bytes(4),  # nested aggregate
        b"\x09\xff\xff\xff" + bytes(7),  # huge inner size: no over-read, no allocation
    ],
)
def test_malformed_aggregates(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_message(Message(6, 22, 0, 1, payload))


@pytest.mark.parametrize(
    ("type_id", "payload"),
    [
        (1, b"\x00\x00\x00"),
        (1, b"\x00\x00\x00\x00"),
        (1, b"\x80\x00\x00\x00"),
        (2, b"\x00\x01\x10\x00"),
        (3, b""),
        (4, b"\x00"),
        (4, b"\x00\x00\x00"),
        (4, b"\x00\x03\x00\x00\x00\x01"),
        (4, b"\x00\x06\x00"),
        (5, b"\x00"),
        (6, b"\x00\x00\x00\x01"),
        (20, b""),
        (20, b"\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"),  # no command name
        (20, b"\x02\x00\x01x\x02\x00\x01y"),  # transaction id is not a number
        (20, b"\x02\x00\x05conn"),  # truncated
        (18, b"\x03\x00\x01a"),
    ],
)
def test_bad_bodies(type_id: int, payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_message(Message(3, type_id, 0, 0, payload))


@settings(max_examples=500)
@given(
    st.sampled_from([1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22, 7, 200]),
    st.binary(max_size=80),
)
def test_arbitrary_bodies_raise_only_protocol_errors(type_id: int, payload: bytes) -> None:
    try:
        value = decode_message(Message(3, type_id, 0, 0, payload))
    except ProtocolError:
        return
    # Whatever parses re-encodes, and that parses back to the same value.
    assert decode_message(encode_message(value)) == value


def test_command_with_only_a_name_and_unknown_types_pass_through() -> None:
    got = decode_message(Message(3, 20, 0, 0, amf0.encode("onBWDone")))
    assert got == Command(name="onBWDone", transaction_id=0.0)
    assert decode_message(Message(3, 99, 7, 1, b"?")) == UnknownMessage(
        type_id=99, payload=b"?", timestamp=7, message_stream_id=1
    )


def test_values_are_validated() -> None:
    with pytest.raises(LocalProtocolError):
        SetChunkSize(chunk_size=0)
    with pytest.raises(LocalProtocolError):
        StreamBegin(stream_id=-1)
    with pytest.raises(LocalProtocolError):
        Audio(payload=b"", timestamp=1 << 32)
    with pytest.raises(LocalProtocolError):
        encode_message(object())  # type: ignore[arg-type]


def test_default_chunk_streams() -> None:
    assert default_chunk_stream_id(SetChunkSize(chunk_size=1)) == 2
    assert default_chunk_stream_id(Command(name="connect")) == 3
    assert default_chunk_stream_id(Command(name="play", message_stream_id=1)) == 5
    assert default_chunk_stream_id(Audio(payload=b"")) == 4
    assert default_chunk_stream_id(Video(payload=b"")) == 6
    assert encode_message(Video(payload=b""), chunk_stream_id=70).chunk_stream_id == 70


def test_payload_types_are_bytes() -> None:
    assert type(Audio(payload=bytearray(b"ab")).payload) is bytes
    assert type(Video(payload=memoryview(b"ab")).payload) is bytes
    assert Command(name="x", arguments=[1.0]).arguments == (1.0,)


def test_amf_messages_over_the_size_limit_are_not_decoded() -> None:
    from trio_rtmp.core import amf0 as codec
    from trio_rtmp.core.config import Limits

    body = codec.encode("onMetaData", {"x": "y" * 2000})
    limits = Limits(max_amf_message_size=1000)
    for type_id in (15, 17, 18, 20):
        with pytest.raises(RemoteProtocolError, match="exceeds"):
            decode_message(Message(3, type_id, 0, 1, b"\x00" + body), limits=limits)
    # Media and shared objects are not AMF-decoded, so the limit does not apply.
    assert decode_message(Message(3, 9, 0, 1, bytes(5000)), limits=limits).payload == bytes(5000)
