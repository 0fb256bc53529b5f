"""NAL unit helpers: length-prefixed (RTMP, FLV, MP4) and Annex B (cameras, .h264 files).

RTMP carries H.264 and H.265 access units as NAL units each preceded by its length
(1, 2 or 4 bytes, as the decoder configuration record says); encoders, cameras and
raw ``.h264``/``.h265`` files use Annex B start codes (``00 00 01``/``00 00 00 01``).

* :func:`split_length_prefixed` / :func:`join_length_prefixed` convert between an
  RTMP/FLV video body and a list of NAL units;
* :func:`split_annexb` / :func:`join_annexb` do the same for Annex B;
* :func:`annexb_to_length_prefixed` / :func:`length_prefixed_to_annexb` convert
  between the two framings in one step.

Lists of NAL units are what :class:`~trio_rtmp.media.frames.VideoSample` holds for
h264 and h265.
"""

from __future__ import annotations

import struct

from ..core.errors import RemoteProtocolError

__all__ = [
    "annexb_to_length_prefixed",
    "avc_nal_unit_type",
    "hevc_nal_unit_type",
    "join_annexb",
    "join_length_prefixed",
    "length_prefixed_to_annexb",
    "split_annexb",
    "split_length_prefixed",
]

_unpack_u32 = struct.Struct(">I").unpack_from
_unpack_u16 = struct.Struct(">H").unpack_from
_START_CODE = b"\x00\x00\x00\x01"


def split_length_prefixed(
    data: bytes, length_size: int = 4, offset: int = 0, *, max_units: int | None = None
) -> list[bytes]:
    """Split length-prefixed NAL units starting at ``offset`` of ``data``.

    Zero-length entries are skipped.  A length that runs past the end raises
    :class:`~trio_rtmp.core.errors.RemoteProtocolError`, as do more than ``max_units``
    entries (NAL units and empty ones) when that is given.  This sits on the
    demuxer's hot path: one ``struct`` call and one slice per NAL unit, no per-byte
    work.
    """
    nals: list[bytes] = []
    end = len(data)
    # Every entry takes at least its prefix: the loop ends within ``entries`` turns.
    entries = end if max_units is None else max_units
    if length_size == 4:
        unpack = _unpack_u32
        for _ in range(entries):
            if offset >= end:
                return nals
            start = offset + 4
            if start > end:
                raise RemoteProtocolError("NAL unit length prefix is truncated")
            stop = start + unpack(data, offset)[0]
            if stop > end:
                raise RemoteProtocolError("NAL unit length runs past the end of the frame")
            if stop > start:
                nals.append(data[start:stop])
            offset = stop
    else:
        if length_size not in (1, 2, 3):
            raise RemoteProtocolError(f"NAL unit length size {length_size} is not 1..4")
        for _ in range(entries):
            if offset >= end:
                return nals
            start = offset + length_size
            if start > end:
                raise RemoteProtocolError("NAL unit length prefix is truncated")
            stop = start + int.from_bytes(data[offset:start], "big")
            if stop > end:
                raise RemoteProtocolError("NAL unit length runs past the end of the frame")
            if stop > start:
                nals.append(data[start:stop])
            offset = stop
    if offset < end:
        raise RemoteProtocolError(f"more than {max_units} NAL units in one frame")
    return nals


def join_length_prefixed(nals: list[bytes], length_size: int = 4) -> bytes:
    """Join NAL units, each preceded by its length in ``length_size`` bytes.

    Raises ``ValueError`` if a NAL unit is too long for the prefix.
    """
    if length_size not in (1, 2, 3, 4):
        raise ValueError("length_size must be 1, 2, 3 or 4")
    limit = 1 << (8 * length_size)
    parts = []
    for nal in nals:
        size = len(nal)
        if size >= limit:
            raise ValueError(f"a {size}-byte NAL unit does not fit a {length_size}-byte length")
        parts.append(size.to_bytes(length_size, "big"))
        parts.append(nal)
    return b"".join(parts)


def split_annexb(data: bytes, *, max_units: int | None = None) -> list[bytes]:
    """Split an Annex B byte stream into NAL units (without start codes).

    Leading zero bytes and trailing zeros before the next start code are dropped (a NAL
    unit never ends with a zero byte).  Raises ``ValueError`` if ``data`` has no start
    code at all, since then it is not Annex B, and
    :class:`~trio_rtmp.core.errors.RemoteProtocolError` for more than ``max_units``
    start codes when that is given.
    """
    find = data.find
    position = find(b"\x00\x00\x01")
    if position < 0:
        raise ValueError("no Annex B start code (00 00 01) in the data")
    nals = []
    start = position + 3
    for _ in range(len(data) if max_units is None else max_units):
        following = find(b"\x00\x00\x01", start)
        if following < 0:
            nal = data[start:].rstrip(b"\x00")
            if nal:
                nals.append(nal)
            return nals
        nal = data[start:following].rstrip(b"\x00")
        if nal:
            nals.append(nal)
        start = following + 3
    raise RemoteProtocolError(f"more than {max_units} NAL units in one frame")


def join_annexb(nals: list[bytes]) -> bytes:
    """Join NAL units into an Annex B byte stream with four-byte start codes."""
    if not nals:
        return b""
    return _START_CODE + _START_CODE.join(nals)


def annexb_to_length_prefixed(data: bytes, length_size: int = 4) -> bytes:
    """Convert an Annex B access unit to length-prefixed NAL units."""
    return join_length_prefixed(split_annexb(data), length_size)


def length_prefixed_to_annexb(data: bytes, length_size: int = 4) -> bytes:
    """Convert length-prefixed NAL units to Annex B."""
    return join_annexb(split_length_prefixed(data, length_size))


def avc_nal_unit_type(nal: bytes) -> int:
    """The H.264 nal_unit_type (5 IDR slice, 7 SPS, 8 PPS, 9 AUD, ...)."""
    return nal[0] & 0x1F if nal else -1


def hevc_nal_unit_type(nal: bytes) -> int:
    """The H.265 nal_unit_type (19/20 IDR, 32 VPS, 33 SPS, 34 PPS, 35 AUD, ...)."""
    return (nal[0] >> 1) & 0x3F if nal else -1
