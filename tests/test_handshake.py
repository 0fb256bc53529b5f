"""The sans-IO RTMP handshake: both roles, both modes, every split of the byte stream.

Expected digests and offsets are computed here with ``hmac``/``hashlib`` directly from
the published keys, never with the module's own helpers, so a wrong helper cannot make
its own test pass.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_rtmp.core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from trio_rtmp.core.handshake import (
    ClientHandshake,
    ServerHandshake,
    digest_offset,
    find_digest,
)

# The keys, spelled out independently of the module under test.
TAIL = bytes.fromhex("F0EEC24A8068BEE82E00D0D1029E7E576EEC5D2D29806FAB93B8E636CFEB31AE")
PLAYER_KEY = b"Genuine Adobe Flash Player 001" + TAIL
SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + TAIL
PLAYER_PREFIX = b"Genuine Adobe Flash Player 001"
SERVER_PREFIX = b"Genuine Adobe Flash Media Server 001"

RANDOM_CLIENT = bytes((i * 7 + 3) % 256 for i in range(1528))
RANDOM_SERVER = bytes((i * 13 + 101) % 256 for i in range(1528))
CHUNKS = b"\x03\x00\x00\x00\x00\x00\x10\x14\x00\x00\x00\x00" + b"chunk payload..."

TOTAL = 1 + 1536 + 1536


def hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def offset_by_hand(packet: bytes, scheme: int) -> int:
    if scheme == 0:
        return (packet[8] + packet[9] + packet[10] + packet[11]) % 728 + 12
    return (packet[772] + packet[773] + packet[774] + packet[775]) % 728 + 776


def digest_by_hand(packet: bytes, offset: int, key: bytes) -> bytes:
    return hmac256(key, packet[:offset] + packet[offset + 32 :])


def make_c1(*, time: int, version: bytes, body: bytes, scheme: int | None) -> bytes:
    """A C1 built independently; ``scheme`` None means no digest."""
    packet = bytearray(struct.pack(">I", time) + version + body)
    if scheme is not None:
        offset = offset_by_hand(bytes(packet), scheme)
        packet[offset : offset + 32] = digest_by_hand(bytes(packet), offset, PLAYER_PREFIX)
    return bytes(packet)


def make_s1(*, time: int, version: bytes, body: bytes, scheme: int | None) -> bytes:
    packet = bytearray(struct.pack(">I", time) + version + body)
    if scheme is not None:
        offset = offset_by_hand(bytes(packet), scheme)
        packet[offset : offset + 32] = digest_by_hand(bytes(packet), offset, SERVER_PREFIX)
    return bytes(packet)


def pair(
    *, client_digest: bool = True, server_digest: bool = True
) -> tuple[ClientHandshake, ServerHandshake]:
    client = ClientHandshake(time=1234, random=RANDOM_CLIENT, digest=client_digest)
    server = ServerHandshake(time=98765, random=RANDOM_SERVER, digest=server_digest)
    return client, server


def feed(handshake: ClientHandshake | ServerHandshake, data: bytes, cuts: list[int]) -> None:
    """Feed ``data`` cut at the given positions (never an empty piece: b"" is EOF)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    start = 0
    for point in [*points, len(data)]:
        if point > start:
            handshake.receive_data(data[start:point])
        start = point


def run(
    client: ClientHandshake,
    server: ServerHandshake,
    *,
    c2s_cuts: list[int] | None = None,
    s2c_cuts: list[int] | None = None,
    client_trailer: bytes = b"",
    server_trailer: bytes = b"",
) -> tuple[bytes, bytes]:
    """Run a whole handshake in memory; returns (client->server, server->client) bytes."""
    client.initiate()
    c0c1 = client.data_to_send()
    assert len(c0c1) == 1537
    feed(server, c0c1, c2s_cuts or [])
    s0s1s2 = server.data_to_send()
    assert len(s0s1s2) == TOTAL
    assert not server.complete
    feed(client, s0s1s2 + server_trailer, s2c_cuts or [])
    assert client.complete
    c2 = client.data_to_send()
    assert len(c2) == 1536
    feed(server, c2 + client_trailer, [(c or 0) % 1600 for c in c2s_cuts or []])
    assert server.complete
    assert server.data_to_send() == b""
    return c0c1 + c2, s0s1s2


# -- whole handshakes -----------------------------------------------------------------


@pytest.mark.parametrize("client_digest", [True, False])
@pytest.mark.parametrize("server_digest", [True, False])
def test_pair_completes(client_digest: bool, server_digest: bool) -> None:
    client, server = pair(client_digest=client_digest, server_digest=server_digest)
    run(client, server, client_trailer=CHUNKS, server_trailer=CHUNKS[::-1])
    assert client.complete and server.complete
    both_digest = client_digest and server_digest
    assert server.peer_uses_digest is client_digest
    assert server.peer_digest_scheme == (0 if client_digest else None)
    assert client.peer_uses_digest is both_digest
    assert client.peer_digest_scheme == (0 if both_digest else None)
    assert client.peer_verified
    assert server.peer_verified
    assert client.peer_time == 98765
    assert server.peer_time == 1234
    assert server.peer_version == (bytes([9, 0, 124, 2]) if client_digest else bytes(4))
    assert client.peer_version == (bytes([4, 5, 0, 1]) if both_digest else bytes(4))
    assert server.unused_data() == CHUNKS
    assert client.unused_data() == CHUNKS[::-1]
    # Returned once, then cleared.
    assert server.unused_data() == b""
    assert client.unused_data() == b""


def test_deterministic() -> None:
    first = run(*pair())
    second = run(*pair())
    assert first == second


def test_data_after_completion_goes_to_unused_and_close_is_fine() -> None:
    client, server = pair()
    run(client, server)
    server.receive_data(b"abc")
    server.receive_data(b"def")
    assert server.unused_data() == b"abcdef"
    server.receive_data(b"")  # a close after the handshake is the chunk layer's business
    client.receive_data(b"")
    assert server.unused_data() == b""
    assert server.complete and client.complete


# -- the client's bytes -----------------------------------------------------------------


def test_client_digest_c1_is_ffmpeg_like() -> None:
    client = ClientHandshake(time=0x01020304, random=RANDOM_CLIENT)
    client.initiate()
    sent = client.data_to_send()
    assert sent[0] == 3
    c1 = sent[1:]
    assert len(c1) == 1536
    assert c1[:4] == b"\x01\x02\x03\x04"
    assert c1[4:8] == b"\x09\x00\x7c\x02"
    offset = offset_by_hand(c1, 0)
    assert 12 <= offset < 12 + 728
    assert c1[offset : offset + 32] == digest_by_hand(c1, offset, PLAYER_PREFIX)
    # Everything but the digest is the caller's random, untouched.
    assert c1[8:offset] == RANDOM_CLIENT[: offset - 8]
    assert c1[offset + 32 :] == RANDOM_CLIENT[offset + 24 :]


def test_client_simple_c1() -> None:
    client = ClientHandshake(time=7, random=RANDOM_CLIENT, digest=False)
    client.initiate()
    sent = client.data_to_send()
    assert sent == b"\x03" + struct.pack(">I", 7) + bytes(4) + RANDOM_CLIENT
    assert client.data_to_send() == b""


def test_client_echoes_simple_s1_exactly() -> None:
    client = ClientHandshake(random=RANDOM_CLIENT)
    client.initiate()
    c1 = client.data_to_send()[1:]
    s1 = make_s1(time=555, version=bytes(4), body=RANDOM_SERVER, scheme=None)
    s2 = c1[:4] + bytes(4) + c1[8:]  # FFmpeg's S2: client time, zero, C1's random
    client.receive_data(b"\x03" + s1)
    assert client.data_to_send() == s1  # C2 queued as soon as S1 is in
    assert not client.complete
    client.receive_data(s2)
    assert client.complete
    assert client.peer_verified
    assert not client.peer_uses_digest
    assert client.peer_time == 555


@pytest.mark.parametrize("scheme", [0, 1])
def test_client_answers_digest_s1_in_either_scheme(scheme: int) -> None:
    client = ClientHandshake(random=RANDOM_CLIENT)
    client.initiate()
    c1 = client.data_to_send()[1:]
    client_digest = c1[offset_by_hand(c1, 0) :][:32]
    s1 = make_s1(time=1, version=b"\x0d\x0e\x0a\x0d", body=RANDOM_SERVER, scheme=scheme)
    server_digest = s1[offset_by_hand(s1, scheme) :][:32]
    body = bytes(range(256)) * 5 + bytes(224)
    s2 = body + hmac256(hmac256(SERVER_KEY, client_digest), body)
    client.receive_data(b"\x03" + s1 + s2)
    assert client.complete
    assert client.peer_uses_digest
    assert client.peer_digest_scheme == scheme
    assert client.peer_verified
    assert client.peer_version == b"\x0d\x0e\x0a\x0d"
    c2 = client.data_to_send()
    assert len(c2) == 1536
    assert c2[1504:] == hmac256(hmac256(PLAYER_KEY, server_digest), c2[:1504])
    # The random part is not a copy of anything already on the wire.
    assert c2[:1504] not in (c1[:1504], s1[:1504], RANDOM_CLIENT[:1504])


def test_simple_client_echoes_even_a_digest_s1() -> None:
    client = ClientHandshake(random=RANDOM_CLIENT, digest=False)
    client.initiate()
    c1 = client.data_to_send()[1:]
    s1 = make_s1(time=1, version=b"\x04\x05\x00\x01", body=RANDOM_SERVER, scheme=0)
    client.receive_data(b"\x03" + s1 + c1)
    assert client.data_to_send() == s1
    assert client.peer_uses_digest
    assert client.peer_verified


def test_client_is_lenient_about_a_bad_s2(caplog: pytest.LogCaptureFixture) -> None:
    client = ClientHandshake(random=RANDOM_CLIENT)
    client.initiate()
    s1 = make_s1(time=1, version=b"\x04\x05\x00\x01", body=RANDOM_SERVER, scheme=0)
    with caplog.at_level(logging.DEBUG, logger="trio_rtmp.core.handshake"):
        client.receive_data(b"\x03" + s1 + bytes(1536) + b"next")
    assert client.complete
    assert not client.peer_verified
    assert client.unused_data() == b"next"
    assert any("S2" in record.getMessage() for record in caplog.records)


# -- the server's bytes -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", [0, 1])
def test_server_answers_digest_c1_in_the_same_scheme(scheme: int) -> None:
    c1 = make_c1(time=42, version=b"\x80\x00\x07\x02", body=RANDOM_CLIENT, scheme=scheme)
    client_digest = c1[offset_by_hand(c1, scheme) :][:32]
    server = ServerHandshake(time=0xDEADBEEF, random=RANDOM_SERVER)
    server.receive_data(b"\x03" + c1)
    out = server.data_to_send()
    assert len(out) == TOTAL
    assert out[0] == 3
    s1, s2 = out[1:1537], out[1537:]
    assert s1[:4] == b"\xde\xad\xbe\xef"
    assert s1[4] >= 3  # FFmpeg checks the server digest only then
    assert s1[4:8] != bytes(4)
    offset = offset_by_hand(s1, scheme)
    assert s1[offset : offset + 32] == digest_by_hand(s1, offset, SERVER_PREFIX)
    # FFmpeg's check of S2: keyed by HMAC(full server key, client digest).
    assert s2[1504:] == hmac256(hmac256(SERVER_KEY, client_digest), s2[:1504])
    assert server.peer_uses_digest
    assert server.peer_digest_scheme == scheme
    assert server.peer_time == 42
    assert server.peer_version == b"\x80\x00\x07\x02"
    # A digest C2, as a playing FFmpeg sends it, verifies.
    server_digest = s1[offset : offset + 32]
    body = bytes(1504)
    server.receive_data(body + hmac256(hmac256(PLAYER_KEY, server_digest), body))
    assert server.complete
    assert server.peer_verified


def test_server_accepts_echo_c2_after_digest_c1() -> None:
    # FFmpeg publishing echoes S1 even after it sent a digest C1.
    c1 = make_c1(time=0, version=b"\x09\x00\x7c\x02", body=RANDOM_CLIENT, scheme=0)
    server = ServerHandshake(random=RANDOM_SERVER)
    server.receive_data(b"\x03" + c1)
    s1 = server.data_to_send()[1:1537]
    server.receive_data(s1)
    assert server.complete
    assert server.peer_verified
    assert server.peer_uses_digest


def test_server_simple_reply_to_simple_c1() -> None:
    c1 = make_c1(time=9, version=bytes(4), body=RANDOM_CLIENT, scheme=None)
    server = ServerHandshake(time=11, random=RANDOM_SERVER)
    server.receive_data(b"\x03")
    assert server.data_to_send() == b""  # nothing until C1 is complete
    server.receive_data(c1)
    out = server.data_to_send()
    assert out == b"\x03" + struct.pack(">I", 11) + bytes(4) + RANDOM_SERVER + c1
    assert not server.peer_uses_digest
    assert server.peer_digest_scheme is None


def test_server_is_lenient_about_a_bad_c2(caplog: pytest.LogCaptureFixture) -> None:
    c1 = make_c1(time=9, version=bytes(4), body=RANDOM_CLIENT, scheme=None)
    server = ServerHandshake(random=RANDOM_SERVER)
    with caplog.at_level(logging.DEBUG, logger="trio_rtmp.core.handshake"):
        server.receive_data(b"\x03" + c1 + b"\xff" * 1536 + CHUNKS)
    assert server.complete
    assert not server.peer_verified
    assert server.unused_data() == CHUNKS
    assert any("C2" in record.getMessage() for record in caplog.records)


def test_server_c2_echo_time_fields_are_not_compared() -> None:
    c1 = make_c1(time=9, version=bytes(4), body=RANDOM_CLIENT, scheme=None)
    server = ServerHandshake(random=RANDOM_SERVER)
    server.receive_data(b"\x03" + c1)
    s1 = server.data_to_send()[1:1537]
    server.receive_data(b"\xaa" * 8 + s1[8:])
    assert server.peer_verified


def test_server_c2_with_one_random_byte_off_does_not_verify() -> None:
    c1 = make_c1(time=9, version=bytes(4), body=RANDOM_CLIENT, scheme=None)
    server = ServerHandshake(random=RANDOM_SERVER)
    server.receive_data(b"\x03" + c1)
    s1 = bytearray(server.data_to_send()[1:1537])
    s1[1000] ^= 1
    server.receive_data(bytes(s1))
    assert server.complete
    assert not server.peer_verified


def test_digest_c1_with_a_flipped_byte_is_simple() -> None:
    c1 = bytearray(make_c1(time=0, version=b"\x09\x00\x7c\x02", body=RANDOM_CLIENT, scheme=0))
    c1[1535] ^= 0x40  # outside the digest, inside the signed bytes
    server = ServerHandshake(random=RANDOM_SERVER)
    server.receive_data(b"\x03" + bytes(c1))
    assert not server.peer_uses_digest
    assert server.data_to_send()[1537:] == bytes(c1)


# -- fixed vectors for the offsets and digests ------------------------------------------


def test_digest_offsets_fixed_vectors() -> None:
    packet = bytearray(1536)
    packet[8:12] = b"\xff\xff\xff\xff"  # 1020 % 728 = 292
    packet[772:776] = b"\x01\x02\x03\x04"  # 10
    assert digest_offset(bytes(packet), 0) == 292 + 12 == 304
    assert digest_offset(bytes(packet), 1) == 10 + 776 == 786
    packet[8:12] = b"\xb6\xb6\xb6\xb6"  # 4 * 182 = 728 -> 0
    packet[772:776] = b"\xff\xff\xff\xb5"  # 765 + 181 = 946; 946 % 728 = 218
    assert digest_offset(bytes(packet), 0) == 12
    assert digest_offset(bytes(packet), 1) == 218 + 776 == 994
    packet[772:776] = b"\xff\xff\xff\xff"
    # The largest offset keeps the digest inside the packet.
    assert digest_offset(bytes(packet), 1) + 32 <= 1536


@given(st.binary(min_size=1536, max_size=1536), st.sampled_from([0, 1]))
@settings(max_examples=100)
def test_digest_offset_matches_hand_computation(packet: bytes, scheme: int) -> None:
    assert digest_offset(packet, scheme) == offset_by_hand(packet, scheme)


def test_find_digest_fixed_vector() -> None:
    body = bytes(1528)
    c1 = make_c1(time=0, version=b"\x09\x00\x7c\x02", body=body, scheme=0)
    # All-zero random: offset (0 % 728) + 12 = 12, digest over 1504 bytes with a hole.
    expected = hmac256(PLAYER_PREFIX, c1[:12] + c1[44:])
    assert c1[12:44] == expected
    assert find_digest(c1, PLAYER_PREFIX) == (0, expected)
    assert find_digest(c1, SERVER_PREFIX) is None
    assert find_digest(bytes(1536), PLAYER_PREFIX) is None


# -- splits, one byte at a time, trailing bytes ------------------------------------------


@pytest.mark.parametrize("client_digest", [True, False])
def test_one_byte_at_a_time(client_digest: bool) -> None:
    client, server = pair(client_digest=client_digest)
    client.initiate()
    c0c1 = client.data_to_send()
    for i in range(len(c0c1)):
        server.receive_data(c0c1[i : i + 1])
        if i < len(c0c1) - 1:
            assert server.data_to_send() == b""
    s_out = server.data_to_send() + CHUNKS
    for i in range(len(s_out)):
        assert not client.complete or i >= TOTAL
        client.receive_data(s_out[i : i + 1])
        if i == TOTAL - 1:
            assert client.complete
    c2 = client.data_to_send() + CHUNKS
    for i in range(len(c2)):
        server.receive_data(c2[i : i + 1])
    assert server.complete and server.peer_verified and client.peer_verified
    assert server.unused_data() == CHUNKS
    assert client.unused_data() == CHUNKS


@given(
    client_digest=st.booleans(),
    server_digest=st.booleans(),
    c2s_cuts=st.lists(st.integers(0, 1600), max_size=8),
    s2c_cuts=st.lists(st.integers(0, TOTAL + 40), max_size=8),
    client_trailer=st.binary(max_size=40),
    server_trailer=st.binary(max_size=40),
)
@settings(max_examples=150)
def test_arbitrary_splits(
    client_digest: bool,
    server_digest: bool,
    c2s_cuts: list[int],
    s2c_cuts: list[int],
    client_trailer: bytes,
    server_trailer: bytes,
) -> None:
    client, server = pair(client_digest=client_digest, server_digest=server_digest)
    reference = run(*pair(client_digest=client_digest, server_digest=server_digest))
    wire = run(
        client,
        server,
        c2s_cuts=c2s_cuts,
        s2c_cuts=s2c_cuts,
        client_trailer=client_trailer,
        server_trailer=server_trailer,
    )
    assert wire == reference  # how the bytes were cut changes nothing on the wire
    assert client.peer_verified and server.peer_verified
    assert client.peer_uses_digest is (client_digest and server_digest)
    assert server.peer_uses_digest is client_digest
    assert server.unused_data() == client_trailer
    assert client.unused_data() == server_trailer


def test_trailing_bytes_in_the_same_read_as_s0s1s2() -> None:
    client, server = pair()
    client.initiate()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send() + CHUNKS)
    assert client.complete
    assert client.unused_data() == CHUNKS


# -- wrong versions ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [v for v in range(256) if v != 3])
def test_server_rejects_wrong_c0_at_once(version: int) -> None:
    server = ServerHandshake(random=RANDOM_SERVER)
    with pytest.raises(RemoteProtocolError, match=f"C0 version byte is {version} "):
        server.receive_data(bytes([version]))
    assert server.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"\x03")


@pytest.mark.parametrize("version", [v for v in range(256) if v != 3])
def test_client_rejects_wrong_s0(version: int) -> None:
    client = ClientHandshake(random=RANDOM_CLIENT)
    client.initiate()
    client.data_to_send()
    with pytest.raises(RemoteProtocolError, match=f"S0 version byte is {version} "):
        client.receive_data(bytes([version]) + bytes(3072))
    assert client.data_to_send() == b""
    assert not client.complete


@pytest.mark.parametrize(
    ("version", "words"),
    [(6, "RTMPE"), (8, "RTMPE"), (9, "RTMPE"), (0x16, "TLS"), (ord("G"), "HTTP"), (0, "obsolete")],
)
def test_version_errors_say_what_they_saw(version: int, words: str) -> None:
    server = ServerHandshake(random=RANDOM_SERVER)
    with pytest.raises(RemoteProtocolError, match=words):
        server.receive_data(bytes([version]) + bytes(100))


def test_digest_c1_behind_a_wrong_c0_is_not_answered() -> None:
    c1 = make_c1(time=0, version=b"\x09\x00\x7c\x02", body=RANDOM_CLIENT, scheme=0)
    server = ServerHandshake(random=RANDOM_SERVER)
    with pytest.raises(RemoteProtocolError):
        server.receive_data(b"\x06" + c1)
    assert server.data_to_send() == b""
    assert server.peer_time is None and server.peer_version is None


# -- truncation -------------------------------------------------------------------------


@given(st.integers(0, TOTAL - 1), st.booleans())
@settings(max_examples=100)
def test_server_eof_before_complete(cut: int, digest: bool) -> None:
    client = ClientHandshake(random=RANDOM_CLIENT, digest=digest)
    server = ServerHandshake(random=RANDOM_SERVER)
    client.initiate()
    c0c1 = client.data_to_send()
    feed(server, c0c1[:cut], [])
    if cut >= 1537:
        client.receive_data(server.data_to_send())
        feed(server, client.data_to_send()[: cut - 1537], [])
    assert not server.complete
    with pytest.raises(RemoteProtocolError, match="closed the connection during the handshake"):
        server.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"")


@given(st.integers(0, TOTAL - 1))
@settings(max_examples=100)
def test_client_eof_before_complete(cut: int) -> None:
    client, server = pair()
    client.initiate()
    server.receive_data(client.data_to_send())
    feed(client, server.data_to_send()[:cut], [])
    assert not client.complete
    waiting_for = "S0" if cut == 0 else "S1" if cut < 1537 else "S2"
    with pytest.raises(RemoteProtocolError, match=rf"server closed .*\(waiting for {waiting_for},"):
        client.receive_data(b"")


# -- arbitrary bytes --------------------------------------------------------------------


@given(st.binary(max_size=4000), st.lists(st.integers(0, 4000), max_size=6), st.booleans())
@settings(max_examples=200)
def test_arbitrary_bytes_into_the_server(data: bytes, cuts: list[int], eof: bool) -> None:
    server = ServerHandshake(random=RANDOM_SERVER)
    try:
        feed(server, data, cuts)
        if eof:
            server.receive_data(b"")
    except ProtocolError:
        return
    consumed = min(len(data), TOTAL)
    assert server.complete is (len(data) >= TOTAL)
    if server.complete:
        assert server.unused_data() == data[consumed:]
    out = server.data_to_send()
    assert len(out) == (TOTAL if len(data) >= 1537 else 0)


@given(st.binary(max_size=4000), st.lists(st.integers(0, 4000), max_size=6), st.booleans())
@settings(max_examples=200)
def test_arbitrary_bytes_into_the_client(data: bytes, cuts: list[int], digest: bool) -> None:
    client = ClientHandshake(random=RANDOM_CLIENT, digest=digest)
    client.initiate()
    assert len(client.data_to_send()) == 1537
    try:
        feed(client, data, cuts)
    except ProtocolError:
        assert data[:1] != b"\x03"
        return
    assert client.complete is (len(data) >= TOTAL)
    if client.complete:
        assert client.unused_data() == data[TOTAL:]
    assert len(client.data_to_send()) == (1536 if len(data) >= 1537 else 0)


@given(st.binary(min_size=1536, max_size=1536))
@settings(max_examples=50)
def test_random_c1_is_answered_simply(c1: bytes) -> None:
    server = ServerHandshake(random=RANDOM_SERVER)
    server.receive_data(b"\x03" + c1)
    assert not server.peer_uses_digest
    assert server.data_to_send()[1537:] == c1


# -- the caller's mistakes --------------------------------------------------------------


@pytest.mark.parametrize("cls", [ClientHandshake, ServerHandshake])
@pytest.mark.parametrize("random", [b"", bytes(1527), bytes(1529), "x" * 1528, None])
def test_random_must_be_1528_bytes(cls: type, random: object) -> None:
    with pytest.raises(LocalProtocolError):
        cls(random=random)


@pytest.mark.parametrize("cls", [ClientHandshake, ServerHandshake])
@pytest.mark.parametrize("time", [-1, 1.5, True, "0"])
def test_time_must_be_a_non_negative_int(cls: type, time: object) -> None:
    with pytest.raises(LocalProtocolError):
        cls(time=time, random=RANDOM_CLIENT)


def test_time_wraps_at_32_bits() -> None:
    client = ClientHandshake(time=(1 << 32) + 5, random=RANDOM_CLIENT, digest=False)
    client.initiate()
    assert client.data_to_send()[1:5] == b"\x00\x00\x00\x05"


def test_random_may_be_any_bytes_like() -> None:
    client = ClientHandshake(random=memoryview(bytearray(RANDOM_CLIENT)), digest=False)
    client.initiate()
    assert client.data_to_send()[9:] == RANDOM_CLIENT


def test_client_initiate_once_and_first() -> None:
    client = ClientHandshake(random=RANDOM_CLIENT)
    with pytest.raises(LocalProtocolError):
        client.receive_data(b"\x03")
    client.initiate()
    with pytest.raises(LocalProtocolError):
        client.initiate()


def test_server_has_no_initiate() -> None:
    assert not hasattr(ServerHandshake(random=RANDOM_SERVER), "initiate")


def test_repr_names_the_state() -> None:
    client, server = pair()
    assert "ClientHandshake" in repr(client)
    run(client, server)
    assert "complete" in repr(server)
