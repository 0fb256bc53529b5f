"""Fuzz the client role of the RTMP handshake with arbitrary server bytes.

Input layout: byte 0 holds flags (bit 0: the client sends a digest C1; bit 1: the peer
closes after the data), byte 1 the size of the pieces the rest is fed in (0: all at
once), and the rest is what the "server" sends: S0, S1, S2 and whatever follows.

Invariant: a ``ProtocolError`` (only for a wrong S0 or an early close) or a handshake
whose output is exactly C0+C1 then C2, whose C2 follows the rules for the S1 it got,
whose unused data is exactly the bytes after S2, and whose own bytes a
``ServerHandshake`` accepts.
"""

from __future__ import annotations

from trio_rtmp.core.errors import ProtocolError, RemoteProtocolError
from trio_rtmp.core.handshake import (
    HANDSHAKE_SIZE,
    HANDSHAKE_TOTAL,
    SERVER_KEY_PREFIX,
    ClientHandshake,
    ServerHandshake,
    digest_offset,
    find_digest,
    packet_digest,
)

CLIENT_RANDOM = bytes((i * 31 + 7) % 251 for i in range(1528))
SERVER_RANDOM = bytes((i * 17 + 3) % 253 for i in range(1528))
CHUNKS = b"\x02\x00\x00\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x10\x00"


def _server_reply(c0c1: bytes, *, digest: bool) -> bytes:
    server = ServerHandshake(time=99, random=SERVER_RANDOM, digest=digest)
    server.receive_data(c0c1)
    return server.data_to_send()


def _scheme1_s1() -> bytes:
    """A server S1 with its digest in scheme 1, built with the module's helpers."""
    packet = bytearray(b"\x00\x00\x01\x00" + b"\x0d\x0e\x0a\x0d" + SERVER_RANDOM)
    offset = digest_offset(bytes(packet), 1)
    packet[offset : offset + 32] = packet_digest(bytes(packet), offset, SERVER_KEY_PREFIX)
    return bytes(packet)


def seeds() -> list[bytes]:
    """Server byte streams produced by our own ServerHandshake, plus variants."""
    out: list[bytes] = []
    for client_digest in (True, False):
        client = ClientHandshake(random=CLIENT_RANDOM, digest=client_digest)
        client.initiate()
        c0c1 = client.data_to_send()
        flags = 1 if client_digest else 0
        for server_digest in (True, False):
            reply = _server_reply(c0c1, digest=server_digest)
            out.extend(bytes([flags, piece]) + reply + CHUNKS for piece in (0, 1, 7, 200))
            out.append(bytes([flags | 2, 0]) + reply)
            out.append(bytes([flags | 2, 0]) + reply[:1600])
        out.append(bytes([flags, 0]) + b"\x03" + _scheme1_s1() + bytes(HANDSHAKE_SIZE))
        out.append(bytes([flags, 0]) + b"\x06" + _scheme1_s1())
    return out


def test_one_input(data: bytes) -> None:
    """Feed one server byte stream to a ClientHandshake and check every invariant."""
    if len(data) < 2:
        return
    flags, piece = data[0], data[1]
    stream = data[2:]
    digest = bool(flags & 1)
    client = ClientHandshake(time=1, random=CLIENT_RANDOM, digest=digest)
    client.initiate()
    c0c1 = client.data_to_send()
    assert len(c0c1) == 1 + HANDSHAKE_SIZE
    step = piece or len(stream) or 1
    try:
        for start in range(0, len(stream), step):
            client.receive_data(stream[start : start + step])
        if flags & 2:
            client.receive_data(b"")
    except RemoteProtocolError:
        # Only a wrong S0 or a close before the end may fail the handshake.
        assert (stream[:1] not in (b"", b"\x03")) or (flags & 2 and len(stream) < HANDSHAKE_TOTAL)
        return
    except ProtocolError as exc:  # pragma: no cover - would be a bug
        raise AssertionError(f"unexpected {exc!r}") from exc
    c2 = client.data_to_send()
    if len(stream) < 1 + HANDSHAKE_SIZE:
        assert not client.complete and c2 == b""
        return
    s1 = stream[1 : 1 + HANDSHAKE_SIZE]
    assert len(c2) == HANDSHAKE_SIZE
    found = find_digest(s1, SERVER_KEY_PREFIX)
    assert client.peer_uses_digest is (found is not None)
    if not (digest and found):
        assert c2 == s1
    assert client.complete is (len(stream) >= HANDSHAKE_TOTAL)
    if client.complete:
        assert client.unused_data() == stream[HANDSHAKE_TOTAL:]
        # What we produced must be a handshake a server of ours accepts.
        server = ServerHandshake(random=SERVER_RANDOM)
        server.receive_data(c0c1)
        server.receive_data(c2)
        assert server.complete
        assert server.peer_uses_digest is digest


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
