"""The RTMP handshake, client and server roles, simple and digest ("complex"), sans-IO.

Bytes go in through ``receive_data``; the replies come out of ``data_to_send``.  No clock
and no randomness are read here: the caller passes the 4-byte time field and the 1528
random bytes of C1/S1.

The exchange (RTMP 1.0 section 5.2)::

    client                                  server
    C0 (1 byte: version 3) + C1 (1536) -->
                                       <--  S0 (1) + S1 (1536) + S2 (1536)
    C2 (1536)                          -->
    ... chunk stream ...

C1/S1 are ``time (4, big-endian) | version (4) | random (1528)``.  In the simple
handshake the version field is zero and C2/S2 echo the peer's C1/S1.  In the digest
handshake introduced by Flash Player 9 (which Flash-era players need before they play
H.264/AAC) the version field is non-zero, C1/S1 hide a 32-byte HMAC-SHA256 digest at an
offset derived from four of their own bytes, and C2/S2 are 1504 random bytes followed by
an HMAC-SHA256 of those bytes keyed by an HMAC of the peer's digest.

How many bytes each role waits for:

* :class:`ClientHandshake` sends C0+C1 on :meth:`~ClientHandshake.initiate`, then waits
  for S0 (1 byte, checked at once), S1 (1536 bytes; C2 is queued as soon as S1 is in,
  which RTMP allows and which cannot deadlock against a server that waits for C2 before
  sending S2) and S2 (1536 bytes).  It is complete after 3073 bytes.
* :class:`ServerHandshake` waits for C0 (1 byte, checked at once) and C1 (1536 bytes),
  then queues S0+S1+S2 together without waiting for C2, then waits for C2 (1536 bytes).
  It is complete after 3073 bytes.

Everything after those 3073 bytes is the start of the chunk stream; it is kept and
handed out once by ``unused_data()``.

Versions: both roles accept only version 3, as FFmpeg and nginx-rtmp do.  RTMP 1.0 lets
a server answer 3 to an unknown higher version, but no real client sends one; versions
6, 8 and 9 are encrypted RTMPE, which we do not support, and most other values are a
different protocol on the wrong port (TLS from an ``rtmps://`` client, HTTP).  All of
them raise :class:`~trio_rtmp.core.errors.RemoteProtocolError` naming what was seen.

Leniency: real peers get C2/S2 wrong (FFmpeg publishing answers a digest S1 with a plain
echo, for instance), so neither role ever fails on the contents of C2/S2; whether they
checked out is recorded in ``peer_verified``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import struct

from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CLIENT_KEY",
    "CLIENT_KEY_PREFIX",
    "CLIENT_VERSION",
    "DIGEST_SIZE",
    "HANDSHAKE_SIZE",
    "HANDSHAKE_TOTAL",
    "RANDOM_SIZE",
    "RTMP_VERSION",
    "SERVER_KEY",
    "SERVER_KEY_PREFIX",
    "SERVER_VERSION",
    "ClientHandshake",
    "ServerHandshake",
    "digest_offset",
    "find_digest",
    "packet_digest",
]

logger = logging.getLogger(__name__)

#: The only protocol version (C0/S0 byte) spoken: plain, unencrypted RTMP.
RTMP_VERSION = 3
#: Size of C1, S1, C2 and S2.
HANDSHAKE_SIZE = 1536
#: Random bytes of C1/S1 (after the time and version fields); what callers supply.
RANDOM_SIZE = HANDSHAKE_SIZE - 8
#: Size of an HMAC-SHA256 digest.
DIGEST_SIZE = 32
#: Bytes each role reads before it is complete: version byte plus two packets.
HANDSHAKE_TOTAL = 1 + 2 * HANDSHAKE_SIZE

# The 32 bytes both full keys share after their readable prefix.
_KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
#: The 62-byte key of the Flash Player side; C1 digests use its 30-byte prefix.
CLIENT_KEY = b"Genuine Adobe Flash Player 001" + _KEY_TAIL
#: The part of :data:`CLIENT_KEY` that signs a client's C1.
CLIENT_KEY_PREFIX = CLIENT_KEY[:30]
#: The 68-byte key of the server side; S1 digests use its 36-byte prefix.
SERVER_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL
#: The part of :data:`SERVER_KEY` that signs a server's S1.
SERVER_KEY_PREFIX = SERVER_KEY[:36]

#: Version field of a digest C1: Flash Player 9.0.124.2, as FFmpeg sends it.
CLIENT_VERSION = bytes((9, 0, 124, 2))
#: Version field of a digest S1, in the style of Flash Media Server 4.5.  A playing
#: FFmpeg looks for the server digest only when the first byte is at least 3 (and
#: takes S1 for a simple one otherwise), so that byte must stay >= 3.
SERVER_VERSION = bytes((4, 5, 0, 1))

# Where the four bytes that place the digest start, for scheme 0 and scheme 1; the
# digest itself starts 4 bytes later plus their sum modulo 728.  A digest never covers
# either scheme's offset bytes (scheme 0 ends by 12 + 727 + 32 = 771 < 772, scheme 1
# starts at 776) and always fits (776 + 727 + 32 = 1535 <= 1536).
_SCHEME_BASES = (8, 772)
_OFFSET_MODULUS = 728
_ECHO_START = 8  # C2/S2 echoes are compared from the random bytes on (see _echoes)
_SIGNED_SIZE = HANDSHAKE_SIZE - DIGEST_SIZE
_TIME_MODULUS = 1 << 32
_U32 = struct.Struct(">I")

# Domain separation for the extra random bytes a digest C2/S2 needs (see _response_random).
_RESPONSE_RANDOM_LABEL = b"trio-rtmp handshake response random"


def digest_offset(packet: bytes, scheme: int) -> int:
    """Where the 32-byte digest of a C1/S1 sits under digest ``scheme`` (0 or 1).

    Scheme 0 sums bytes 8..11 and adds 12; scheme 1 sums bytes 772..775 and adds 776;
    the sum is taken modulo 728 first.  ``packet`` must be 1536 bytes long.
    """
    base = _SCHEME_BASES[scheme]
    return sum(packet[base : base + 4]) % _OFFSET_MODULUS + base + 4


def packet_digest(packet: bytes, offset: int, key: bytes) -> bytes:
    """HMAC-SHA256 under ``key`` of ``packet`` without the 32 bytes at ``offset``."""
    mac = hmac.new(key, memoryview(packet)[:offset], hashlib.sha256)
    mac.update(memoryview(packet)[offset + DIGEST_SIZE :])
    return mac.digest()


def find_digest(packet: bytes, key_prefix: bytes) -> tuple[int, bytes] | None:
    """Look for a valid digest in a C1/S1 under both schemes.

    Returns ``(scheme, digest)`` for the first scheme (0, then 1) whose digest checks
    out with ``key_prefix`` (:data:`CLIENT_KEY_PREFIX` for a C1,
    :data:`SERVER_KEY_PREFIX` for an S1), or ``None`` for a simple-handshake packet.
    """
    for scheme in (0, 1):
        offset = digest_offset(packet, scheme)
        found = packet[offset : offset + DIGEST_SIZE]
        if hmac.compare_digest(packet_digest(packet, offset, key_prefix), found):
            return scheme, bytes(found)
    return None


def _imprint_digest(packet: bytearray, scheme: int, key_prefix: bytes) -> bytes:
    """Write the scheme's digest into ``packet`` in place; returns the digest."""
    frozen = bytes(packet)
    offset = digest_offset(frozen, scheme)
    digest = packet_digest(frozen, offset, key_prefix)
    packet[offset : offset + DIGEST_SIZE] = digest
    return digest


def _response_key(full_key: bytes, peer_digest: bytes) -> bytes:
    # A digest C2/S2 is signed with a key that proves the sender saw the peer's digest.
    return hmac.new(full_key, peer_digest, hashlib.sha256).digest()


def _digest_response(random: bytes, full_key: bytes, peer_digest: bytes) -> bytes:
    """A digest C2/S2: 1504 random bytes, then their HMAC keyed from the peer's digest."""
    body = random[:_SIGNED_SIZE]
    signature = hmac.new(_response_key(full_key, peer_digest), body, hashlib.sha256).digest()
    return body + signature


def _response_signed(response: bytes, full_key: bytes, our_digest: bytes) -> bool:
    """Whether a C2/S2 is a digest response to the packet that carried ``our_digest``."""
    key = _response_key(full_key, our_digest)
    expected = hmac.new(key, memoryview(response)[:_SIGNED_SIZE], hashlib.sha256).digest()
    return hmac.compare_digest(expected, response[_SIGNED_SIZE:])


def _echoes(response: bytes, ours: bytes) -> bool:
    # The time fields (0..7) of an echo vary between implementations (FFmpeg zeroes
    # bytes 4..7, the spec puts a read time there); the random part must match exactly.
    return response[_ECHO_START:] == ours[_ECHO_START:]


def _response_random(random: bytes) -> bytes:
    """The 1504 random bytes of a digest C2/S2, derived from the caller's random.

    The core draws no randomness of its own.  SHAKE-256 stretches the caller's bytes
    into fresh-looking ones so C2/S2 do not repeat C1/S1 verbatim; the handshake's
    randomness protects nothing, it only has to look random to peers.
    """
    return hashlib.shake_256(_RESPONSE_RANDOM_LABEL + random).digest(_SIGNED_SIZE)


def _check_version(version: int, packet: str) -> None:
    """Raise a RemoteProtocolError that names what a wrong C0/S0 byte most likely is."""
    if version == RTMP_VERSION:
        return
    if version in (6, 8, 9):
        reason = "encrypted RTMP (RTMPE), which is not supported"
    elif version == 0x16:
        reason = "the start of a TLS handshake: rtmps:// spoken to a plain RTMP port?"
    elif version == 0x15:
        reason = "a TLS alert: plain RTMP spoken to an rtmps:// port?"
    elif version in b"GPHOCDT":
        reason = "the start of an HTTP message: RTMPT or HTTP spoken to a plain RTMP port?"
    elif version < RTMP_VERSION:
        reason = "an obsolete pre-release RTMP version"
    else:
        reason = "an unknown RTMP version"
    raise RemoteProtocolError(
        f"{packet} version byte is {version} ({reason}); only version {RTMP_VERSION} is spoken"
    )


class _State(enum.Enum):
    IDLE = "idle"  # client only: initiate() not called yet
    WAIT_VERSION = "waiting for the version byte"
    WAIT_PACKET1 = "waiting for the peer's first packet"
    WAIT_PACKET2 = "waiting for the peer's echo"
    COMPLETE = "complete"
    ERROR = "error"


# Which of the peer's three messages (C0/C1/C2 or S0/S1/S2) each waiting state wants.
_WAITING_FOR = {_State.WAIT_VERSION: 0, _State.WAIT_PACKET1: 1, _State.WAIT_PACKET2: 2}


_WANTED = {_State.WAIT_VERSION: 1, _State.WAIT_PACKET1: HANDSHAKE_SIZE}


class _Handshake:
    """What both roles share: buffering, the outbound buffer and the peer's details."""

    __slots__ = (
        "_buffer",
        "_digest",
        "_our_digest",
        "_our_packet",
        "_outbound",
        "_random",
        "_received",
        "_state",
        "_time",
        "_unused",
        "peer_digest_scheme",
        "peer_time",
        "peer_uses_digest",
        "peer_verified",
        "peer_version",
    )

    #: Who the other side is, and what its three messages and our first packet are called.
    _peer_role = "peer"
    _peer_names = ("C0", "C1", "C2")
    _our_packet_name = "S1"

    def __init__(self, *, time: int, random: bytes, digest: bool) -> None:
        if not isinstance(time, int) or isinstance(time, bool) or time < 0:
            raise LocalProtocolError(f"handshake time must be a non-negative int, not {time!r}")
        if not isinstance(random, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"handshake random must be bytes, not {type(random)!r}")
        random = bytes(random)
        if len(random) != RANDOM_SIZE:
            raise LocalProtocolError(
                f"handshake random must be exactly {RANDOM_SIZE} bytes, not {len(random)}"
            )
        # RTMP times are 32-bit and wrap, so an uptime past 2**32 ms is still valid.
        self._time = time % _TIME_MODULUS
        self._random = random
        self._digest = bool(digest)
        self._state = _State.WAIT_VERSION
        self._buffer = bytearray()
        self._outbound = bytearray()
        self._unused = bytearray()
        self._received = 0
        self._our_packet = b""
        self._our_digest: bytes | None = None
        #: Whether the peer's C1/S1 carried a valid digest (the Flash Player 9 handshake).
        self.peer_uses_digest = False
        #: Which digest scheme (0 or 1) the peer's C1/S1 used, ``None`` if none.
        self.peer_digest_scheme: int | None = None
        #: Whether the peer's C2/S2 answered our C1/S1 correctly: an exact echo of its
        #: random part, or a digest response keyed from our digest.
        self.peer_verified = False
        #: The 4-byte version field of the peer's C1/S1 (zero for a simple handshake),
        #: ``None`` until it has arrived.
        self.peer_version: bytes | None = None
        #: The time field of the peer's C1/S1, ``None`` until it has arrived.
        self.peer_time: int | None = None

    def _packet1(self, version: bytes, key_prefix: bytes, scheme: int) -> bytes:
        """Build our C1/S1 (with a digest in ``scheme`` if ``version`` is non-zero)."""
        packet = bytearray(_U32.pack(self._time) + version + self._random)
        if version != bytes(4):
            self._our_digest = _imprint_digest(packet, scheme, key_prefix)
        return bytes(packet)

    @property
    def complete(self) -> bool:
        """True once the handshake is done and the chunk stream may begin."""
        return self._state is _State.COMPLETE

    def data_to_send(self) -> bytes:
        """Return and clear everything queued for the peer."""
        data = bytes(self._outbound)
        self._outbound.clear()
        return data

    def unused_data(self) -> bytes:
        """Bytes that arrived after the handshake ended (the first chunks), returned once.

        Calls after the first return only what arrived since.
        """
        data = bytes(self._unused)
        self._unused.clear()
        return data

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer, split anywhere; ``b""`` means the peer closed.

        Raises :class:`~trio_rtmp.core.errors.RemoteProtocolError` for a wrong version
        byte or a close before the handshake is complete.  Bytes received once the
        handshake is complete are kept for :meth:`unused_data`; a close then is no error.
        """
        state = self._state
        if state is _State.ERROR:
            raise LocalProtocolError("the handshake has already failed")
        if state is _State.IDLE:
            raise LocalProtocolError("call initiate() before receiving handshake data")
        if state is _State.COMPLETE:
            self._unused += data
            return
        if not data:
            self._state = _State.ERROR
            raise RemoteProtocolError(
                f"the {self._peer_role} closed the connection during the handshake "
                f"(waiting for {self._peer_names[_WAITING_FOR[state]]}, "
                f"after {self._received} of {HANDSHAKE_TOTAL} bytes)"
            )
        self._received += len(data)
        buffer = self._buffer
        buffer += data
        try:
            while True:
                wanted = _WANTED.get(self._state, HANDSHAKE_SIZE)
                if len(buffer) < wanted:
                    break
                packet = bytes(buffer[:wanted])
                del buffer[:wanted]
                state = self._state
                if state is _State.WAIT_VERSION:
                    _check_version(packet[0], self._peer_names[0])
                    self._state = _State.WAIT_PACKET1
                elif state is _State.WAIT_PACKET1:
                    self.peer_time = _U32.unpack_from(packet)[0]
                    self.peer_version = packet[4:8]
                    self._on_packet1(packet)
                    self._state = _State.WAIT_PACKET2
                else:
                    self._on_packet2(packet)
                    self._state = _State.COMPLETE
                    self._unused += buffer
                    buffer.clear()
                    break
        except RemoteProtocolError:
            self._state = _State.ERROR
            raise

    def _on_packet1(self, packet: bytes) -> None:
        raise NotImplementedError

    def _on_packet2(self, packet: bytes) -> None:
        raise NotImplementedError

    def _verify(self, packet: bytes, full_key: bytes) -> None:
        """Record whether the peer's C2/S2 answers our C1/S1; never fail on it."""
        ours = self._our_packet
        our_digest = self._our_digest
        verified = _echoes(packet, ours) or (
            our_digest is not None and _response_signed(packet, full_key, our_digest)
        )
        self.peer_verified = verified
        if not verified:
            logger.debug(
                "%s's %s neither echoes our %s nor carries a valid digest response; ignored",
                self._peer_role,
                self._peer_names[2],
                self._our_packet_name,
            )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._state.value}, peer_uses_digest="
            f"{self.peer_uses_digest}, peer_verified={self.peer_verified}>"
        )


class ClientHandshake(_Handshake):
    """The client side of the handshake.

    ``time`` is the C1 time field (taken modulo 2**32); ``random`` the 1528 random bytes
    of C1 (:class:`~trio_rtmp.core.errors.LocalProtocolError` if the length is wrong).
    With ``digest=True`` (the default) C1 carries a scheme-0 digest and the Flash Player
    version 9.0.124.2, exactly as FFmpeg's C1; with ``digest=False`` C1 is a simple one
    (version field zero) for servers that cannot cope with anything else.

    Either way the client follows the server: if S1 carries a valid server digest (in
    either scheme) and we sent a digest C1, C2 is a digest response; otherwise C2 is an
    exact echo of S1, which is what simple servers such as ``ffmpeg -listen 1`` compare.
    A wrong S0 (anything but 3) raises
    :class:`~trio_rtmp.core.errors.RemoteProtocolError`.  Call :meth:`initiate` first.
    """

    __slots__ = ()

    _peer_role = "server"
    _peer_names = ("S0", "S1", "S2")
    _our_packet_name = "C1"

    def __init__(self, *, time: int = 0, random: bytes, digest: bool = True) -> None:
        super().__init__(time=time, random=random, digest=digest)
        self._state = _State.IDLE

    def initiate(self) -> None:
        """Queue C0 and C1.  Must be called exactly once, before any data is received."""
        if self._state is not _State.IDLE:
            raise LocalProtocolError("initiate() may only be called once")
        version = CLIENT_VERSION if self._digest else bytes(4)
        self._our_packet = self._packet1(version, CLIENT_KEY_PREFIX, 0)
        self._outbound += bytes((RTMP_VERSION,)) + self._our_packet
        self._state = _State.WAIT_VERSION

    def _on_packet1(self, packet: bytes) -> None:
        found = find_digest(packet, SERVER_KEY_PREFIX)
        if found is not None:
            self.peer_uses_digest = True
            self.peer_digest_scheme = found[0]
        if found is not None and self._our_digest is not None:
            self._outbound += _digest_response(_response_random(self._random), CLIENT_KEY, found[1])
        else:
            self._outbound += packet

    def _on_packet2(self, packet: bytes) -> None:
        self._verify(packet, SERVER_KEY)


class ServerHandshake(_Handshake):
    """The server side of the handshake.

    ``time`` is the S1 time field (taken modulo 2**32); ``random`` the 1528 random bytes
    of S1 (:class:`~trio_rtmp.core.errors.LocalProtocolError` if the length is wrong).
    A C0 other than 3 raises :class:`~trio_rtmp.core.errors.RemoteProtocolError` at
    once.  C1 is checked for a client digest in both schemes whatever its version field
    says.  With one (and ``digest=True``, the default) S1 carries a server digest in the
    scheme the client used, with version field 4.5.0.1, and S2 is a digest response
    keyed from the client's digest; otherwise S1 is simple (version field zero) and S2
    is an exact echo of C1.  ``digest=False`` always answers simply, as
    ``ffmpeg -listen 1`` does.  S0, S1 and S2 are queued together as soon as C1 is in.
    """

    __slots__ = ()

    _peer_role = "client"
    _peer_names = ("C0", "C1", "C2")
    _our_packet_name = "S1"

    def __init__(self, *, time: int = 0, random: bytes, digest: bool = True) -> None:
        super().__init__(time=time, random=random, digest=digest)

    def _on_packet1(self, packet: bytes) -> None:
        found = find_digest(packet, CLIENT_KEY_PREFIX)
        if found is not None:
            self.peer_uses_digest = True
            self.peer_digest_scheme = found[0]
        if found is not None and self._digest:
            scheme, client_digest = found
            self._our_packet = self._packet1(SERVER_VERSION, SERVER_KEY_PREFIX, scheme)
            response = _digest_response(_response_random(self._random), SERVER_KEY, client_digest)
        else:
            self._our_packet = self._packet1(bytes(4), SERVER_KEY_PREFIX, 0)
            response = packet
        self._outbound += bytes((RTMP_VERSION,)) + self._our_packet + response

    def _on_packet2(self, packet: bytes) -> None:
        self._verify(packet, CLIENT_KEY)
