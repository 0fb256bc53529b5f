"""A bounded big-endian bit reader for codec headers (SPS, AV1 sequence headers, ...).

The whole input is turned into one Python integer once; every read is then a shift
and a mask, and Exp-Golomb codes find their leading zeros with ``int.bit_length``,
so there is no per-bit Python loop.  Inputs are short (parameter sets are tens of
bytes), and :data:`MAX_BITSTREAM_BYTES` caps what we are willing to look at.

Running past the end raises :class:`~trio_rtmp.core.errors.RemoteProtocolError`, as
does an Exp-Golomb code longer than 32 bits: both mean a malformed header.
"""

from __future__ import annotations

from ..core.errors import RemoteProtocolError

__all__ = ["MAX_BITSTREAM_BYTES", "BitReader", "unescape_rbsp"]

#: Parameter sets and sequence headers are far smaller than this; anything beyond is
#: not read (a header that would need it fails as truncated).
MAX_BITSTREAM_BYTES = 4096


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove H.264/H.265 emulation prevention bytes (``00 00 03`` -> ``00 00``).

    ``bytes.replace`` scans left to right without overlapping matches, which is exactly
    the specification's rule: after an emulation prevention byte the zero count restarts.
    """
    if b"\x00\x00\x03" not in nal:
        return nal
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class BitReader:
    """Reads unsigned fields, flags and Exp-Golomb codes most significant bit first."""

    __slots__ = ("_bits", "_pos", "_value", "what")

    def __init__(self, data: bytes, what: str = "bitstream") -> None:
        data = bytes(data[:MAX_BITSTREAM_BYTES])
        self._value = int.from_bytes(data, "big")
        self._bits = len(data) * 8
        self._pos = 0
        #: Named in error messages ("SPS", "AudioSpecificConfig", ...).
        self.what = what

    @property
    def position(self) -> int:
        """How many bits have been read."""
        return self._pos

    @property
    def remaining(self) -> int:
        """How many bits are left."""
        return self._bits - self._pos

    def _truncated(self) -> RemoteProtocolError:
        return RemoteProtocolError(f"{self.what} is truncated")

    def u(self, count: int) -> int:
        """Read ``count`` bits as an unsigned integer."""
        end = self._pos + count
        if end > self._bits:
            raise self._truncated()
        self._pos = end
        return (self._value >> (self._bits - end)) & ((1 << count) - 1)

    def flag(self) -> bool:
        """Read one bit as a boolean."""
        return self.u(1) == 1

    def skip(self, count: int) -> None:
        """Skip ``count`` bits."""
        end = self._pos + count
        if end > self._bits:
            raise self._truncated()
        self._pos = end

    def _leading_zeros(self, limit: int) -> int:
        left = self._bits - self._pos
        rest = self._value & ((1 << left) - 1)
        if rest == 0:
            raise self._truncated()
        zeros = left - rest.bit_length()
        if zeros > limit:
            raise RemoteProtocolError(f"{self.what} has an over-long variable-length code")
        return zeros

    def ue(self) -> int:
        """Read an unsigned Exp-Golomb code ``ue(v)`` (at most 32 leading zeros)."""
        zeros = self._leading_zeros(32)
        self._pos += zeros + 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Read a signed Exp-Golomb code ``se(v)``."""
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)

    def uvlc(self) -> int:
        """Read an AV1 ``uvlc()``; 32 or more leading zeros mean 2**32 - 1."""
        left = self._bits - self._pos
        rest = self._value & ((1 << left) - 1)
        if rest == 0:
            raise self._truncated()
        zeros = left - rest.bit_length()
        self._pos += zeros + 1
        if zeros >= 32:
            return (1 << 32) - 1
        return (1 << zeros) - 1 + self.u(zeros)

    def byte_align(self) -> None:
        """Skip to the next byte boundary."""
        self._pos = min(self._bits, (self._pos + 7) & ~7)
