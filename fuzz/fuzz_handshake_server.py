"""Fuzz the server role of the RTMP handshake with arbitrary client bytes.

Input layout: byte 0 holds flags (bit 0: the server answers digests with digests;
bit 1: the peer closes after the data), byte 1 the size of the pieces the rest is fed
in (0: all at once), and the rest is what the "client" sends: C0, C1, C2 and whatever
follows.

Invariant: a ``ProtocolError`` (only for a wrong C0 or an early close) or a handshake
whose output is exactly S0+S1+S2, sent once C1 is in, following the rules for the C1 it
got (a digest S1 in the client's scheme, or an S2 that echoes C1), with the bytes after
C2 returned by ``unused_data()``.
"""

from __future__ import annotations

from trio_rtmp.core.errors import ProtocolError, RemoteProtocolError
from trio_rtmp.core.handshake import (
    CLIENT_KEY_PREFIX,
    HANDSHAKE_SIZE,
    HANDSHAKE_TOTAL,
    SERVER_KEY_PREFIX,
    ClientHandshake,
    ServerHandshake,
    digest_offset,
    find_digest,
    packet_digest,
)

CLIENT_RANDOM = bytes((i * 29 + 5) % 256 for i in range(1528))
SERVER_RANDOM = bytes((i * 11 + 1) % 241 for i in range(1528))
CHUNKS = b"\x03\x00\x00\x00\x00\x00\x10\x14\x00\x00\x00\x00\x02\x00\x07connect"


def _scheme1_c1() -> bytes:
    """A client C1 with its digest in scheme 1, built with the module's helpers."""
    packet = bytearray(b"\x00\x00\x00\x00" + b"\x80\x00\x07\x02" + CLIENT_RANDOM)
    offset = digest_offset(bytes(packet), 1)
    packet[offset : offset + 32] = packet_digest(bytes(packet), offset, CLIENT_KEY_PREFIX)
    return bytes(packet)


def seeds() -> list[bytes]:
    """Client byte streams produced by our own ClientHandshake, plus variants."""
    out: list[bytes] = []
    for server_digest in (True, False):
        flags = 1 if server_digest else 0
        for client_digest in (True, False):
            client = ClientHandshake(random=CLIENT_RANDOM, digest=client_digest)
            server = ServerHandshake(random=SERVER_RANDOM, digest=server_digest)
            client.initiate()
            c0c1 = client.data_to_send()
            server.receive_data(c0c1)
            client.receive_data(server.data_to_send())
            stream = c0c1 + client.data_to_send()
            out.extend(bytes([flags, piece]) + stream + CHUNKS for piece in (0, 1, 13, 255))
            out.append(bytes([flags | 2, 0]) + stream)
            out.append(bytes([flags | 2, 0]) + stream[:2000])
        out.append(bytes([flags, 0]) + b"\x03" + _scheme1_c1() + bytes(HANDSHAKE_SIZE))
        out.append(bytes([flags, 0]) + b"\x16\x03\x01\x02\x00\x01")
    return out


def test_one_input(data: bytes) -> None:
    """Feed one client byte stream to a ServerHandshake and check every invariant."""
    if len(data) < 2:
        return
    flags, piece = data[0], data[1]
    stream = data[2:]
    digest = bool(flags & 1)
    server = ServerHandshake(time=2, random=SERVER_RANDOM, digest=digest)
    step = piece or len(stream) or 1
    try:
        for start in range(0, len(stream), step):
            server.receive_data(stream[start : start + step])
        if flags & 2:
            server.receive_data(b"")
    except RemoteProtocolError:
        assert (stream[:1] not in (b"", b"\x03")) or (flags & 2 and len(stream) < HANDSHAKE_TOTAL)
        return
    except ProtocolError as exc:  # pragma: no cover - would be a bug
        raise AssertionError(f"unexpected {exc!r}") from exc
    out = server.data_to_send()
    if len(stream) < 1 + HANDSHAKE_SIZE:
        assert out == b"" and not server.complete
        return
    assert len(out) == HANDSHAKE_TOTAL and out[0] == 3
    c1 = stream[1 : 1 + HANDSHAKE_SIZE]
    s1, s2 = out[1 : 1 + HANDSHAKE_SIZE], out[1 + HANDSHAKE_SIZE :]
    found = find_digest(c1, CLIENT_KEY_PREFIX)
    assert server.peer_uses_digest is (found is not None)
    if digest and found:
        s1_digest = find_digest(s1, SERVER_KEY_PREFIX)
        assert s1_digest is not None and s1_digest[0] == found[0]
    else:
        assert s2 == c1 and s1[4:8] == bytes(4)
    assert server.complete is (len(stream) >= HANDSHAKE_TOTAL)
    if server.complete:
        assert server.unused_data() == stream[HANDSHAKE_TOTAL:]
        assert server.data_to_send() == b""


if __name__ == "__main__":
    from atheris_main import fuzz

    fuzz(test_one_input)
